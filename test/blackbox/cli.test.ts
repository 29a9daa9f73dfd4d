import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runCli } from '../helpers/child';
import { startS3Server, type S3Server } from '../helpers/s3rver';
import { tempDir } from '../helpers/temp';
import { makeWav } from '../helpers/wav';

/** The `callvault` program as an operator runs it: exit codes and what it prints. */

describe('callvault command line', () => {
  let dir: string;
  let cleanup: () => void;
  let env: Record<string, string>;

  beforeEach(() => {
    ({ dir, cleanup } = tempDir('callvault-cli'));
    env = { CALLVAULT_DATA_DIR: dir };
  });
  afterEach(() => cleanup());

  describe('invalid configuration stops the program with exit 2 and names the variable', () => {
    it.each([
      [{ PORT: 'eighty' }, 'PORT'],
      [{ CALLVAULT_STORAGE: 's3' }, 'CALLVAULT_S3_BUCKET'],
      [{ CALLVAULT_DATABASE_URL: 'mysql://localhost/db' }, 'CALLVAULT_DATABASE_URL'],
      [{ CALLVAULT_RETENTION_SCHEDULE: 'every night' }, 'CALLVAULT_RETENTION_SCHEDULE'],
      [{ CALLVAULT_GENERIC_SECRET_FILE: '/nonexistent/secret' }, 'CALLVAULT_GENERIC_SECRET_FILE'],
    ])('%j', async (bad, variable) => {
      const result = await runCli(['serve'], { ...env, ...(bad as Record<string, string>) });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(variable);
      expect(result.stderr).toMatch(/Invalid configuration/);
    });

    it('rsa mode without a key exits non-zero, saying how to make one', async () => {
      const result = await runCli(['serve'], { ...env, CALLVAULT_KEK: 'rsa' });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/keys generate --kind rsa/);
    });

    it('an unknown command or option is a usage error (exit 2)', async () => {
      expect((await runCli(['fly'], env)).code).toBe(2);
      expect((await runCli(['jobs', 'list', '--colour'], env)).code).toBe(2);
    });
  });

  it('migrate is safe to run twice', async () => {
    const first = await runCli(['migrate'], env);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/applied: 001_initial/);
    const second = await runCli(['migrate'], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/up to date/);
  });

  it('import stores a recording; verify decrypts it and checks its SHA-256; a tampered object fails verify with exit 1', async () => {
    const wav = makeWav({ seconds: 2 });
    fs.writeFileSync(path.join(dir, 'call.wav'), wav);
    fs.writeFileSync(
      path.join(dir, 'call.json'),
      JSON.stringify({ eventId: 'e-cli-1', recordingId: 'r-cli-1', from: '+447700900123', to: '+441632960001', startedAt: '2026-11-20T09:14:03Z', category: 'clinical' }),
    );
    const imported = await runCli(['import', path.join(dir, 'call.wav'), '--meta', path.join(dir, 'call.json'), '--json'], env);
    expect(imported.stderr).toMatch(/master key generated/);
    expect(imported.code).toBe(0);
    const { recordingId } = JSON.parse(imported.stdout) as { recordingId: string };

    const again = await runCli(['import', path.join(dir, 'call.wav'), '--meta', path.join(dir, 'call.json')], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already imported/);

    const verified = await runCli(['verify', recordingId], env);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain(crypto.createHash('sha256').update(wav).digest('hex'));

    const objects = path.join(dir, 'objects', 'recordings');
    const [fan] = fs.readdirSync(objects);
    const [object] = fs.readdirSync(path.join(objects, fan!));
    const file = path.join(objects, fan!, object!);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 100]! ^= 0x01;
    fs.writeFileSync(file, bytes);
    const broken = await runCli(['verify', recordingId], env);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/E_CRYPTO_AUTH/);

    fs.rmSync(file);
    const missing = await runCli(['verify', recordingId], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/E_STORAGE_NOT_FOUND/);

    expect((await runCli(['verify', 'no-such-id'], env)).code).toBe(1);
  });

  it('import refuses a file that is not audio, and stores nothing', async () => {
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'minutes of the practice meeting');
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ eventId: 'e1', recordingId: 'r1' }));
    const result = await runCli(['import', path.join(dir, 'notes.txt'), '--meta', path.join(dir, 'meta.json')], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/E_AUDIO_UNSUPPORTED/);
    expect(fs.readdirSync(path.join(dir, 'objects')).filter((name) => name !== '.incoming')).toEqual([]);
    const jobs = await runCli(['jobs', 'list', '--status', 'failed'], env);
    expect(jobs.stdout).toMatch(/E_AUDIO_UNSUPPORTED/);
  });

  it('keys: rsa generation; an ingest-only node (public key only) imports but cannot verify; with the private key it can', async () => {
    const full = path.join(dir, 'keys');
    const generated = await runCli(['keys', 'generate', '--kind', 'rsa', '--bits', '2048'], { ...env, CALLVAULT_KEK: 'rsa' });
    expect(generated.code).toBe(0);
    expect(generated.stdout).toMatch(/public\.pem/);
    const ingestOnly = path.join(dir, 'ingest-keys');
    fs.mkdirSync(ingestOnly, { mode: 0o700 });
    for (const name of fs.readdirSync(full).filter((n) => n.endsWith('.public.pem') || n === 'current')) fs.copyFileSync(path.join(full, name), path.join(ingestOnly, name));

    fs.writeFileSync(path.join(dir, 'call.wav'), makeWav({ seconds: 1 }));
    fs.writeFileSync(path.join(dir, 'call.json'), JSON.stringify({ eventId: 'e-rsa', recordingId: 'r-rsa' }));
    const nodeEnv = { ...env, CALLVAULT_KEK: 'rsa', CALLVAULT_KEYS_DIR: ingestOnly };
    const imported = await runCli(['import', path.join(dir, 'call.wav'), '--meta', path.join(dir, 'call.json'), '--json'], nodeEnv);
    expect(imported.code).toBe(0);
    const { recordingId } = JSON.parse(imported.stdout) as { recordingId: string };
    const refused = await runCli(['verify', recordingId], nodeEnv);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/E_KEY_PRIVATE_MISSING/);
    const allowed = await runCli(['verify', recordingId], { ...env, CALLVAULT_KEK: 'rsa', CALLVAULT_KEYS_DIR: full });
    expect(allowed.code).toBe(0);

    const status = await runCli(['keys', 'status'], nodeEnv);
    expect(status.stdout).toMatch(/encrypt only\s+1 recordings/);

    // Rotation needs the private keys: on the ingest-only node it refuses, and generates nothing.
    const rotate = await runCli(['keys', 'rotate', '--bits', '2048'], nodeEnv);
    expect(rotate.code).toBe(1);
    expect(rotate.stderr).toMatch(/holds only the public part .* run "callvault keys rotate" on a node that holds the private keys/);
    expect(fs.readdirSync(ingestOnly).filter((name) => name.endsWith('.pem'))).toHaveLength(1);
    const rotated = await runCli(['keys', 'rotate', '--bits', '2048'], { ...env, CALLVAULT_KEK: 'rsa', CALLVAULT_KEYS_DIR: full });
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toMatch(/generated rsa master key rk_\w+; it is now current/);
    expect((await runCli(['verify', recordingId], { ...env, CALLVAULT_KEK: 'rsa', CALLVAULT_KEYS_DIR: full })).code).toBe(0);
  });

  it('storage check passes on the local folder', async () => {
    const result = await runCli(['storage', 'check'], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/storage check passed/);
  });

  describe('storage check against s3rver', () => {
    let s3: S3Server;
    beforeAll(async () => {
      s3 = await startS3Server({ bucket: 'cli-bucket' });
    });
    afterAll(async () => s3?.close());

    const s3Env = (overrides: Record<string, string> = {}) => ({
      CALLVAULT_STORAGE: 's3',
      CALLVAULT_S3_ENDPOINT: s3.endpoint,
      CALLVAULT_S3_BUCKET: 'cli-bucket',
      CALLVAULT_S3_REGION: 'us-east-1',
      CALLVAULT_S3_ACCESS_KEY_ID: 'S3RVER',
      CALLVAULT_S3_SECRET_ACCESS_KEY: 'S3RVER',
      CALLVAULT_S3_FORCE_PATH_STYLE: 'true',
      CALLVAULT_S3_CHECKSUM: 'when_required',
      ...overrides,
    });

    it('passes with the right settings', async () => {
      const result = await runCli(['storage', 'check'], { ...env, ...s3Env() });
      expect(result.stdout).toMatch(/storage check passed/);
      expect(result.code).toBe(0);
    });

    it('says the bucket is wrong', async () => {
      const result = await runCli(['storage', 'check'], { ...env, ...s3Env({ CALLVAULT_S3_BUCKET: 'no-such-bucket' }) });
      expect(result.code).toBe(1);
      expect(result.stdout + result.stderr).toMatch(/bucket does not exist/);
    });

    it('says the credentials are wrong for an unknown access key id', async () => {
      const result = await runCli(['storage', 'check'], { ...env, ...s3Env({ CALLVAULT_S3_ACCESS_KEY_ID: 'AKIAUNKNOWN' }) });
      expect(result.code).toBe(1);
      expect(result.stdout + result.stderr).toMatch(/credentials are wrong/);
    });

    it('says the endpoint cannot be reached', async () => {
      const result = await runCli(['storage', 'check'], { ...env, ...s3Env({ CALLVAULT_S3_ENDPOINT: 'http://127.0.0.1:9' }) });
      expect(result.code).toBe(1);
      expect(result.stdout + result.stderr).toMatch(/cannot be reached/);
    });
  });
});
