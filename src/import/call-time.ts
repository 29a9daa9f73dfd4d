/**
 * Call times as old recording systems export them. Two forms are accepted, nothing looser:
 * - ISO 8601 with a zone: 2026-11-20T09:14:03Z, 2026-11-20T09:14:03+01:00 (a space may replace T);
 * - ISO 8601 wall-clock time without a zone: 2026-11-20 09:14:03 (or ...T09:14), read in the
 *   practice's time zone (CALLVAULT_TIMEZONE, Europe/London by default), because that is what a
 *   phone system's export usually means.
 * Day-first dates (20/11/2026) are refused rather than guessed: 03/04 is March or April depending
 * on who wrote it, and the retention date depends on it. A wall-clock time that does not exist
 * (inside the spring clock change) is refused; one that happens twice (the autumn change) is
 * read as the first.
 */

const WITH_ZONE = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:?\d{2})$/i;
const WALL_CLOCK = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$/;

export type CallTimeResult = { ok: true; value: Date } | { ok: false; problem: string };

export function parseCallTime(text: string, timeZone: string): CallTimeResult {
  const trimmed = text.trim();
  const zoned = WITH_ZONE.exec(trimmed);
  if (zoned) {
    const zone = zoned[3]!.toUpperCase() === 'Z' ? 'Z' : zoned[3]!.replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
    const value = new Date(`${zoned[1]}T${zoned[2]}${zone}`);
    return Number.isNaN(value.getTime()) || !sameCalendarDay(zoned[1]!, value, zone) ? { ok: false, problem: `"${trimmed}" is not a real date and time` } : { ok: true, value };
  }
  const wall = WALL_CLOCK.exec(trimmed);
  if (!wall) {
    return { ok: false, problem: `"${trimmed.slice(0, 40)}" is not a date-time; write 2026-11-20T09:14:03Z, or 2026-11-20 09:14:03 for local time in ${timeZone}` };
  }
  const [year, month, day, hour, minute, second] = wall.slice(1).map((part) => Number(part ?? 0)) as [number, number, number, number, number, number];
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, second);
  // The zone's offsets a day either side cover both sides of any clock change near this time:
  // keep the readings that give back the same wall-clock time, and the earliest of them.
  const candidates = [-86_400_000, 0, 86_400_000].map((shift) => asUtc - offsetMs(asUtc + shift, timeZone));
  const matching = candidates.filter((instant) => wallClockOf(instant, timeZone) === wallClockText(year, month, day, hour, minute, second));
  const value = matching.length > 0 ? Math.min(...matching) : undefined;
  if (value === undefined) {
    return { ok: false, problem: `"${trimmed}" does not exist in ${timeZone} (not a real date, or inside a clock change)` };
  }
  return { ok: true, value: new Date(value) };
}

function offsetMs(instant: number, timeZone: string): number {
  const parts = partsOf(instant, timeZone);
  return Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second) - Math.floor(instant / 1000) * 1000;
}

function wallClockOf(instant: number, timeZone: string): string {
  const p = partsOf(instant, timeZone);
  return wallClockText(p.year, p.month, p.day, p.hour, p.minute, p.second);
}

function wallClockText(year: number, month: number, day: number, hour: number, minute: number, second: number): string {
  return [year, month, day, hour, minute, second].join('-');
}

function partsOf(instant: number, timeZone: string): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  const format = new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
  const values: Record<string, number> = {};
  for (const part of format.formatToParts(new Date(instant))) if (part.type !== 'literal') values[part.type] = Number(part.value);
  return { year: values.year!, month: values.month!, day: values.day!, hour: values.hour!, minute: values.minute!, second: values.second! };
}

/** Date() rolls 2026-02-30 over into March; refuse that instead. */
function sameCalendarDay(dayText: string, value: Date, zone: string): boolean {
  const offsetMinutes = zone === 'Z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  return new Date(value.getTime() + offsetMinutes * 60_000).toISOString().slice(0, 10) === dayText;
}
