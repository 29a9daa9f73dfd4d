import { parseCallTime } from '../../src/import/call-time';

/** Call times in a bulk-import CSV: zoned ISO 8601, or wall-clock time in the practice's zone. */
describe('parseCallTime', () => {
  const london = (text: string) => parseCallTime(text, 'Europe/London');
  const at = (text: string) => {
    const result = london(text);
    return result.ok ? result.value.toISOString() : result.problem;
  };

  it('reads zoned times as given', () => {
    expect(at('2026-11-20T09:14:03Z')).toBe('2026-11-20T09:14:03.000Z');
    expect(at('2026-11-20 09:14:03+01:00')).toBe('2026-11-20T08:14:03.000Z');
    expect(at('2026-11-20T09:14:03-0500')).toBe('2026-11-20T14:14:03.000Z');
  });

  it('reads wall-clock times in the zone, in winter and in summer', () => {
    expect(at('2026-11-20 09:14:03')).toBe('2026-11-20T09:14:03.000Z');
    expect(at('2026-07-01T15:30')).toBe('2026-07-01T14:30:00.000Z');
    expect(parseCallTime('2026-07-01 15:30', 'America/New_York')).toEqual({ ok: true, value: new Date('2026-07-01T19:30:00Z') });
  });

  it('refuses a time inside the spring clock change and reads a repeated autumn time as the first', () => {
    expect(london('2026-03-29 01:30').ok).toBe(false);
    expect(at('2026-03-29 02:30')).toBe('2026-03-29T01:30:00.000Z');
    expect(at('2026-10-25 01:30')).toBe('2026-10-25T00:30:00.000Z');
    expect(at('2026-10-25 02:30')).toBe('2026-10-25T02:30:00.000Z');
  });

  it('refuses day-first dates, impossible dates and anything loose', () => {
    for (const text of ['20/11/2026 09:14', '11/20/2026', '2026-02-30 10:00', '2026-02-30T10:00:00Z', '2026-13-01 10:00', 'yesterday', '2026-11-20', '']) {
      expect(london(text).ok).toBe(false);
    }
  });
});
