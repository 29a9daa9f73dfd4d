import fs from 'node:fs';
import path from 'node:path';
import { runCli } from '../helpers/child';
import { tempDir } from '../helpers/temp';
import { makeWav } from '../helpers/wav';

/** `callvault config check`: the configuration with secrets masked, and every problem in one run. */

interface CheckJson {
  ok: boolean;
  configuration: Record<string, string>;
  findings: Array<{ area: string; level: 'ok' | 'warning' | 'problem'; message: string }>;
}

const SECRET = 'generic-secret-do-not-print-0123456789';

describe('callvault config check', () => {
  let dir: string;
  let cleanup: () => void;
  let env: Record<string, string>;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('callvault-doctor'));
    env = { CALLVAULT_DATA_DIR: dir, CALLVAULT_GENERIC_SECRET: SECRET, CALLVAULT_PUBLIC_URL: 'https://calls.example.nhs.uk' };
  });
  afterEach(() => cleanup());

  const check = async (extra: Record<string, string> = {}): Promise<{ code: number | null; report: CheckJson; text: string }> => {
    const json = await runCli(['config', 'check', '--json'], { ...env, ...extra });
    const text = await runCli(['config', 'check'], { ...env, ...extra });
    expect(text.code).toBe(json.code);
    return { code: json.code, report: JSON.parse(json.stdout) as CheckJson, text: text.stdout };
  };
  const problems = (report: CheckJson): string[] => report.findings.filter((f) => f.level === 'problem').map((f) => `${f.area}: ${f.message}`);

  it('a working installation: exit 0, the configuration printed with secrets masked', async () => {
    expect((await runCli(['keys', 'generate'], env)).code).toBe(0);
    expect((await runCli(['migrate'], env)).code).toBe(0);
    const { code, report, text } = await check();
    expect(problems(report)).toEqual([]);
    expect(code).toBe(0);
    expect(report.configuration.CALLVAULT_GENERIC_SECRET).toBe('********');
    expect(report.configuration.CALLVAULT_DATA_DIR).toBe(dir);
    expect(text).toContain('CALLVAULT_GENERIC_SECRET=********');
    expect(text).not.toContain(SECRET);
    expect(text).toMatch(/ok\s+keys\s+master keys load: 1 in/);
    expect(text).toMatch(/ok\s+storage .*accepts, returns and deletes a probe object/);
    expect(text).toMatch(/ok\s+database the index database answers and its schema is up to date/);
    expect(text).toMatch(/no problems/);
  });

  it('finds a loose key file, unreachable storage, an unreachable database and a data folder that is a file, all in one run (exit 1)', async () => {
    expect((await runCli(['keys', 'generate'], env)).code).toBe(0);
    const keyFile = fs.readdirSync(path.join(dir, 'keys')).find((name) => name.endsWith('.key.json'))!;
    fs.chmodSync(path.join(dir, 'keys', keyFile), 0o644);
    const notAFolder = path.join(dir, 'not-a-folder');
    fs.writeFileSync(notAFolder, 'x');
    const { code, report, text } = await check({
      CALLVAULT_DATA_DIR: notAFolder,
      CALLVAULT_KEYS_DIR: path.join(dir, 'keys'),
      CALLVAULT_DATABASE_URL: 'postgres://callvault:pa55word-secret@127.0.0.1:1/callvault',
      CALLVAULT_STORAGE: 's3',
      CALLVAULT_S3_ENDPOINT: 'http://127.0.0.1:9',
      CALLVAULT_S3_BUCKET: 'recordings',
      CALLVAULT_S3_REGION: 'us-east-1',
      CALLVAULT_S3_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      CALLVAULT_S3_SECRET_ACCESS_KEY: 's3-secret-do-not-print',
      CALLVAULT_S3_FORCE_PATH_STYLE: 'true',
    });
    expect(code).toBe(1);
    expect(report.ok).toBe(false);
    const found = problems(report);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^data: data folder .*not-a-folder is not a folder/),
        expect.stringMatching(new RegExp(`^keys: key file .*${keyFile} has mode 644: .*chmod 600`)),
        expect.stringMatching(/^storage: .*cannot be reached/),
        expect.stringMatching(/^database: the index database cannot be reached/),
      ]),
    );
    expect(found).toHaveLength(4);
    expect(report.configuration.CALLVAULT_DATABASE_URL).toBe('postgres://callvault:********@127.0.0.1:1/callvault');
    expect(report.configuration.CALLVAULT_S3_SECRET_ACCESS_KEY).toBe('********');
    expect(text).not.toContain('pa55word-secret');
    expect(text).not.toContain('s3-secret-do-not-print');
    expect(text).toMatch(/4 problem\(s\)/);
  });

  it('an index that uses a master key missing from the key folder is a problem', async () => {
    const fresh = { ...env };
    expect((await runCli(['keys', 'generate'], fresh)).code).toBe(0);
    const wav = path.join(dir, 'call.wav');
    fs.writeFileSync(wav, makeWav({ seconds: 1 }));
    fs.writeFileSync(path.join(dir, 'call.json'), JSON.stringify({ eventId: 'e1', recordingId: 'r1' }));
    expect((await runCli(['import', wav, '--meta', path.join(dir, 'call.json')], fresh)).code).toBe(0);
    // The key folder is replaced by one holding another key (a restore from the wrong backup).
    fs.rmSync(path.join(dir, 'keys'), { recursive: true });
    expect((await runCli(['keys', 'generate'], fresh)).code).toBe(0);
    const { code, report } = await check();
    expect(code).toBe(1);
    expect(problems(report)).toEqual([expect.stringMatching(/^keys: 1 recording\(s\) are wrapped under master key lk_\w+, which is not in .*keys import/)]);
  });

  // root writes through file modes; /sys/kernel refuses new files even to root.
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  (isRoot && !fs.existsSync('/sys/kernel') ? it.skip : it)('a data folder this user cannot write to is a problem', async () => {
    const readOnly = isRoot ? '/sys/kernel' : dir;
    if (!isRoot) fs.chmodSync(dir, 0o500);
    try {
      const { code, report } = await check({ CALLVAULT_DATA_DIR: readOnly, CALLVAULT_KEYS_DIR: path.join(dir, 'keys'), CALLVAULT_LOCAL_STORAGE_DIR: path.join(dir, 'objects') });
      expect(code).toBe(1);
      expect(problems(report)).toEqual(expect.arrayContaining([expect.stringMatching(/^data: data folder .* is not writable by this user/)]));
    } finally {
      if (!isRoot) fs.chmodSync(dir, 0o700);
    }
  });

  it('a value that does not parse is a usage error (exit 2) naming the variable', async () => {
    const result = await runCli(['config', 'check'], { ...env, CALLVAULT_S3_CHECKSUM: 'sometimes' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/CALLVAULT_S3_CHECKSUM: must be one of when_supported, when_required/);
  });
});
