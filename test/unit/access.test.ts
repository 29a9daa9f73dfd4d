import fc from 'fast-check';
import { ConfigError, loadConfig } from '../../config';
import { entryHash, GENESIS_HASH, parseHead } from '../../src/access/audit-trail';
import { canonicalJson } from '../../src/access/canonical-json';
import { maskName, maskNumber } from '../../src/access/masking';
import { hashPassword, needsRehash, verifyPassword } from '../../src/access/passwords';
import { may, ROLES } from '../../src/access/roles';
import { csvLine } from '../../src/export/csv';
import { reasonFrom } from '../../src/http/api-auth';
import { parseRange } from '../../src/http/range';

describe('passwords', () => {
  it('are scrypt hashes carrying their parameters and salt; the right password verifies, others do not', async () => {
    const hash = await hashPassword('correct horse battery staple', 10);
    expect(hash).toMatch(/^\$scrypt\$ln=10,r=8,p=3\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
    expect(hash).not.toContain('correct horse');
    expect(await verifyPassword('correct horse battery staple', hash)).toBe(true);
    expect(await verifyPassword('correct horse battery stapler', hash)).toBe(false);
    expect(await verifyPassword('', hash)).toBe(false);
    expect(await hashPassword('correct horse battery staple', 10)).not.toBe(hash); // a fresh salt each time
  });

  it('a malformed or tampered hash verifies nothing, and never throws', async () => {
    const hash = await hashPassword('pw-123456789012', 10);
    for (const bad of ['', 'plain', hash.replace('ln=10', 'ln=99'), hash.replace('$scrypt$', '$argon2$'), hash.slice(0, -4)]) {
      expect(await verifyPassword('pw-123456789012', bad)).toBe(false);
    }
  });

  it('a hash made at another cost is upgraded at the next sign-in', async () => {
    const hash = await hashPassword('pw-123456789012', 10);
    expect(needsRehash(hash, 10)).toBe(false);
    expect(needsRehash(hash, 15)).toBe(true);
    expect(await verifyPassword('pw-123456789012', hash)).toBe(true); // still verifies meanwhile
  });
});

describe('roles', () => {
  it('admin never sees call details; only the dpo reads the audit trail; everyone may ask for access', () => {
    expect(may('admin', 'recordings.view')).toBe(false);
    expect(may('admin', 'recordings.search')).toBe(false);
    expect(ROLES.filter((role) => may(role, 'audit.read'))).toEqual(['dpo']);
    expect(ROLES.every((role) => may(role, 'access_requests.create'))).toBe(true);
  });
});

describe('the audit chain\'s hashing', () => {
  const entry = { seq: 7, at: new Date('2026-01-01T00:00:00Z'), actor: 'alice', actorRole: 'manager', action: 'recording.view', recordingId: 'r', details: '{"reason":"x"}' };

  it('canonical JSON does not depend on key order, drops undefined, and writes dates as ISO text', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (value) => {
        const reversed = Object.fromEntries(Object.entries(value).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(value));
      }),
    );
    expect(canonicalJson({ b: 1, a: { d: undefined, c: new Date(0) } })).toBe('{"a":{"c":"1970-01-01T00:00:00.000Z"},"b":1}');
  });

  it('every field and the previous hash change the entry\'s hash', () => {
    const base = entryHash(GENESIS_HASH, entry);
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    const variants = [
      entryHash('1'.repeat(64), entry),
      entryHash(GENESIS_HASH, { ...entry, seq: 8 }),
      entryHash(GENESIS_HASH, { ...entry, at: new Date('2026-01-01T00:00:00.001Z') }),
      entryHash(GENESIS_HASH, { ...entry, actor: 'bob' }),
      entryHash(GENESIS_HASH, { ...entry, actorRole: null }),
      entryHash(GENESIS_HASH, { ...entry, action: 'recording.play' }),
      entryHash(GENESIS_HASH, { ...entry, recordingId: null }),
      entryHash(GENESIS_HASH, { ...entry, details: '{"reason":"y"}' }),
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
  });

  it('a noted head reads as <seq>:<hash>', () => {
    expect(parseHead(` 12:${'AB'.repeat(32)} `)).toEqual({ seq: 12, hash: 'ab'.repeat(32) });
    expect(() => parseHead('12')).toThrow(/expect/);
  });
});

describe('what the audit keeps of personal data', () => {
  it('numbers masked to the prefix and last three digits; names to initials and lengths', () => {
    expect(maskNumber('+447700900123')).toBe('+44***123');
    expect(maskNumber(undefined)).toBeUndefined();
    expect(maskName('Jane  Patient')).toBe('J*** P******');
    expect(maskName('Zoë')).toBe('Z**');
  });
});

describe('reasons', () => {
  it('need at least 5 characters and at most 500; percent-encoded text is decoded', () => {
    expect(reasonFrom('complaint 14')).toBe('complaint 14');
    expect(reasonFrom('r%C3%A9clamation%2014')).toBe('réclamation 14');
    expect(reasonFrom('100% sure')).toBe('100% sure');
    for (const bad of [undefined, '', '    ', 'abc', 'x'.repeat(501)]) expect(() => reasonFrom(bad)).toThrow(expect.objectContaining({ code: 'E_REASON_REQUIRED' }));
  });
});

describe('byte ranges', () => {
  it.each([
    ['bytes=0-9', 100, { start: 0, end: 9 }],
    ['bytes=90-', 100, { start: 90, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }],
    ['bytes=-500', 100, { start: 0, end: 99 }],
    ['bytes=50-500', 100, { start: 50, end: 99 }],
    ['bytes=0-1,5-6', 100, null],
    [undefined, 100, null],
  ])('%s of %d bytes', (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });

  it.each(['bytes=100-', 'bytes=5-1', 'bytes=-0', 'bytes=-', 'items=0-1', 'bytes=a-b'])('%s cannot be satisfied (416)', (header) => {
    expect(() => parseRange(header, 100)).toThrow(expect.objectContaining({ code: 'E_CRYPTO_RANGE' }));
  });
});

describe('CSV', () => {
  it('quotes what needs quoting and neutralises cells a spreadsheet would run', () => {
    expect(csvLine(['a', 'b,c', 'say "hi"', 'two\nlines', null, 3])).toBe('a,"b,c","say ""hi""","two\nlines",,3\r\n');
    expect(csvLine(['=1+1', '+447700900123', '-2', '@SUM(A1)', 'plain'])).toBe("'=1+1,'+447700900123,'-2,'@SUM(A1),plain\r\n");
  });
});

describe('access configuration', () => {
  it('refuses admin among the grant-exempt roles, unknown roles, MP3 bitrates MPEG-2 lacks, and a default grant longer than the maximum', () => {
    for (const [name, value] of [
      ['CALLVAULT_GRANT_EXEMPT_ROLES', 'manager,admin'],
      ['CALLVAULT_GRANT_EXEMPT_ROLES', 'boss'],
      ['CALLVAULT_EXPORT_MP3_BITRATE', '192k'],
      ['CALLVAULT_PASSWORD_HASH_COST', '30'],
    ]) {
      expect(() => loadConfig({ CALLVAULT_DATA_DIR: '/tmp/x', [name!]: value })).toThrow(ConfigError);
    }
    expect(() => loadConfig({ CALLVAULT_DATA_DIR: '/tmp/x', CALLVAULT_GRANT_DEFAULT_DAYS: '40' })).toThrow(/CALLVAULT_GRANT_DEFAULT_DAYS/);
    const config = loadConfig({ CALLVAULT_DATA_DIR: '/tmp/x', CALLVAULT_GRANT_EXEMPT_ROLES: 'ig_lead, manager', CALLVAULT_EXPORT_MP3_BITRATE: '64' });
    expect(config.access.grantExemptRoles).toEqual(['ig_lead', 'manager']);
    expect(config.export.mp3Bitrate).toBe('64k');
    expect(loadConfig({ CALLVAULT_DATA_DIR: '/tmp/x' }).access).toMatchObject({ passwordHashCost: 15, loginMaxFailures: 5, grantExemptRoles: [] });
  });
});
