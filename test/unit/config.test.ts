import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, VARIABLES, describeConfig, loadConfig } from '../../config';
import { tempDir } from '../helpers/temp';

function problemsOf(env: Record<string, string>, cwd = '/srv/callvault'): Array<{ key: string; problem: string }> {
  try {
    loadConfig(env, { cwd });
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('configuration', () => {
  it('defaults to the embedded set-up under ./data', () => {
    const config = loadConfig({}, { cwd: '/srv/callvault' });
    expect(config).toMatchObject({
      port: 3000,
      dataDir: '/srv/callvault/data',
      databaseUrl: 'sqlite:/srv/callvault/data/callvault.sqlite',
      publicUrl: 'http://localhost:3000',
      storage: { kind: 'local', localDir: '/srv/callvault/data/objects' },
      keys: { kek: 'local', dir: '/srv/callvault/data/keys', autoGenerate: true },
      retention: { schedule: '0 2 * * *', timezone: 'Europe/London', defaultCategory: 'general' },
    });
    expect(config.retention.periods).toEqual({ admin: { amount: 28, unit: 'd' }, general: { amount: 36, unit: 'm' }, clinical: { amount: 36, unit: 'm' } });
  });

  it('reads every variable of SPEC 8 into its place', () => {
    const config = loadConfig(
      {
        PORT: '8080',
        CALLVAULT_DATA_DIR: '/var/lib/callvault',
        CALLVAULT_DATABASE_URL: 'postgres://callvault@db.internal:5432/callvault',
        CALLVAULT_STORAGE: 's3',
        CALLVAULT_S3_ENDPOINT: 'https://minio.internal:9000',
        CALLVAULT_S3_BUCKET: 'recordings',
        CALLVAULT_S3_REGION: 'eu-west-2',
        CALLVAULT_S3_ACCESS_KEY_ID: 'AKIA',
        CALLVAULT_S3_SECRET_ACCESS_KEY: 'secret',
        CALLVAULT_S3_FORCE_PATH_STYLE: 'true',
        CALLVAULT_S3_CHECKSUM: 'when_required',
        CALLVAULT_KEK: 'rsa',
        CALLVAULT_PUBLIC_URL: 'https://calls.example.nhs.uk/',
        CALLVAULT_TWILIO_ACCOUNT_SID: 'AC123',
        CALLVAULT_TWILIO_AUTH_TOKEN: 'tok',
        CALLVAULT_TWILIO_API_BASE: 'https://api.twilio.com',
        CALLVAULT_TELNYX_PUBLIC_KEY: Buffer.alloc(32, 1).toString('base64'),
        CALLVAULT_GENERIC_SECRET: 'generic',
        CALLVAULT_FETCH_ALLOW_HOSTS: 'PBX.local, 10.0.0.5',
        CALLVAULT_RETENTION_SCHEDULE: '30 3 * * *',
        CALLVAULT_TIMEZONE: 'UTC',
        CALLVAULT_RETENTION_PERIODS: 'general=12m,complaints=6y',
      },
      { cwd: '/' },
    );
    expect(config).toMatchObject({
      port: 8080,
      databaseUrl: 'postgres://callvault@db.internal:5432/callvault',
      publicUrl: 'https://calls.example.nhs.uk',
      storage: { kind: 's3', s3: { endpoint: 'https://minio.internal:9000', bucket: 'recordings', forcePathStyle: true, checksum: 'when_required', secretAccessKey: 'secret' } },
      keys: { kek: 'rsa', dir: '/var/lib/callvault/keys' },
      fetch: { allowHosts: ['pbx.local', '10.0.0.5'] },
      retention: { schedule: '30 3 * * *', timezone: 'UTC' },
    });
    // Periods merge over the defaults.
    expect(Object.keys(config.retention.periods).sort()).toEqual(['admin', 'clinical', 'complaints', 'general']);
    expect(config.retention.periods.general).toEqual({ amount: 12, unit: 'm' });
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT', /whole number/],
    [{ PORT: '70000' }, 'PORT', /between 0 and 65535/],
    [{ CALLVAULT_STORAGE: 'ftp' }, 'CALLVAULT_STORAGE', /local, s3/],
    [{ CALLVAULT_STORAGE: 's3' }, 'CALLVAULT_S3_BUCKET', /required when CALLVAULT_STORAGE=s3/],
    [{ CALLVAULT_DATABASE_URL: 'mysql://x' }, 'CALLVAULT_DATABASE_URL', /sqlite:<path> or postgres/],
    [{ CALLVAULT_KEK: 'hsm' }, 'CALLVAULT_KEK', /local, rsa/],
    [{ CALLVAULT_PUBLIC_URL: 'ftp://x' }, 'CALLVAULT_PUBLIC_URL', /http/],
    [{ CALLVAULT_RETENTION_SCHEDULE: '61 * * * *' }, 'CALLVAULT_RETENTION_SCHEDULE', /cron/],
    [{ CALLVAULT_TIMEZONE: 'Mars/Olympus_Mons' }, 'CALLVAULT_TIMEZONE', /time zone/],
    [{ CALLVAULT_TELNYX_PUBLIC_KEY: 'c2hvcnQ=' }, 'CALLVAULT_TELNYX_PUBLIC_KEY', /32-byte/],
    [{ CALLVAULT_RETENTION_PERIODS: 'admin=forever' }, 'CALLVAULT_RETENTION_PERIODS', /28d/],
    [{ CALLVAULT_RETENTION_UNKNOWN_CATEGORY: 'misc' }, 'CALLVAULT_RETENTION_UNKNOWN_CATEGORY', /no period/],
    [{ CALLVAULT_S3_FORCE_PATH_STYLE: 'maybe' }, 'CALLVAULT_S3_FORCE_PATH_STYLE', /true or false/],
    [{ CALLVAULT_MAX_AUDIO_BYTES: 'lots' }, 'CALLVAULT_MAX_AUDIO_BYTES', /size/],
    [{ CALLVAULT_VONAGE_PRIVATE_KEY: 'not a key' }, 'CALLVAULT_VONAGE_PRIVATE_KEY', /PEM/],
  ])('%j is refused, naming %s', (env, key, problem) => {
    const problems = problemsOf(env as Record<string, string>);
    const match = problems.find((p) => p.key === key);
    expect(match).toBeDefined();
    expect(match!.problem).toMatch(problem);
  });

  it('reports every problem at once', () => {
    const keys = problemsOf({ PORT: 'x', CALLVAULT_STORAGE: 'ftp', CALLVAULT_TIMEZONE: 'Nowhere' }).map((p) => p.key);
    expect(keys).toEqual(expect.arrayContaining(['PORT', 'CALLVAULT_STORAGE', 'CALLVAULT_TIMEZONE']));
  });

  describe('secrets from files', () => {
    let dir: string;
    let cleanup: () => void;
    beforeEach(() => ({ dir, cleanup } = tempDir('callvault-config')));
    afterEach(() => cleanup());

    it('reads NAME_FILE, without its trailing newline', () => {
      fs.writeFileSync(path.join(dir, 'generic.secret'), 's3cr3t\n');
      const config = loadConfig({ CALLVAULT_GENERIC_SECRET_FILE: 'generic.secret' }, { cwd: dir });
      expect(config.providers.generic.secret).toBe('s3cr3t');
    });

    it('every secret variable accepts _FILE', () => {
      const secrets = VARIABLES.filter((v) => v.secret);
      expect(secrets.map((v) => v.env)).toEqual(
        expect.arrayContaining(['CALLVAULT_GENERIC_SECRET', 'CALLVAULT_TWILIO_AUTH_TOKEN', 'CALLVAULT_S3_SECRET_ACCESS_KEY', 'CALLVAULT_VONAGE_SIGNATURE_SECRET', 'CALLVAULT_VONAGE_PRIVATE_KEY']),
      );
      // Those two have their own format, checked on their own below and in the Vonage tests.
      for (const spec of secrets.filter((v) => v.env !== 'CALLVAULT_VONAGE_PRIVATE_KEY' && v.env !== 'CALLVAULT_DATABASE_URL')) {
        fs.writeFileSync(path.join(dir, 'value'), 'from-file');
        const problems = problemsOf({ [`${spec.env}_FILE`]: path.join(dir, 'value') }, dir);
        expect(problems.filter((p) => p.key === spec.env || p.key === `${spec.env}_FILE`)).toEqual([]);
      }
    });

    it('the database URL, with its password, may come from a file and is shown with the password masked', () => {
      fs.writeFileSync(path.join(dir, 'database-url'), 'postgres://cv:hunter2@db.internal:5432/callvault\n');
      const config = loadConfig({ CALLVAULT_DATABASE_URL_FILE: path.join(dir, 'database-url') }, { cwd: dir });
      expect(config.databaseUrl).toBe('postgres://cv:hunter2@db.internal:5432/callvault');
      const shown = describeConfig(config).CALLVAULT_DATABASE_URL;
      expect(shown).toContain('db.internal');
      expect(shown).not.toContain('hunter2');
    });

    it('refuses both NAME and NAME_FILE, and an unreadable file', () => {
      fs.writeFileSync(path.join(dir, 'x'), 'a');
      expect(problemsOf({ CALLVAULT_GENERIC_SECRET: 'a', CALLVAULT_GENERIC_SECRET_FILE: path.join(dir, 'x') })).toEqual([
        { key: 'CALLVAULT_GENERIC_SECRET', problem: expect.stringMatching(/not both/) },
      ]);
      expect(problemsOf({ CALLVAULT_GENERIC_SECRET_FILE: path.join(dir, 'missing') })).toEqual([
        { key: 'CALLVAULT_GENERIC_SECRET_FILE', problem: expect.stringMatching(/cannot read/) },
      ]);
    });
  });

  it('describeConfig masks secrets and database passwords', () => {
    const config = loadConfig({ CALLVAULT_GENERIC_SECRET: 'super-secret-value', CALLVAULT_DATABASE_URL: 'postgres://cv:hunter2@db/cv' }, { cwd: '/' });
    const described = JSON.stringify(describeConfig(config));
    expect(described).not.toContain('super-secret-value');
    expect(described).not.toContain('hunter2');
    expect(describeConfig(config).CALLVAULT_GENERIC_SECRET).toBe('********');
  });
});
