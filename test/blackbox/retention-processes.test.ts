import { loadConfig } from '../../config';
import { buildParts, closeParts, createApp, type App } from '../../src/app';
import { createSilentLogger } from '../../src/log/logger';
import { createTestDatabase, describeEachBackend, type TestDatabase } from '../helpers/backends';
import { runCli } from '../helpers/child';
import { objectKeys } from '../helpers/inspect';
import { ingestRecording } from '../helpers/recordings';
import { tempDir } from '../helpers/temp';

/**
 * Sweeps as separate processes, as the cron job and an operator would run them: killed half
 * way and run again, and two at once on one database. Each expired recording is destroyed
 * exactly once, with one destruction record, and nothing is left half done.
 */
describeEachBackend('retention sweeps across processes', (backend) => {
  const COUNT = 24;
  let env: Record<string, string>;
  let database: TestDatabase;
  let cleanup: () => void;
  let ids: string[];

  async function withApp<T>(body: (app: App) => Promise<T>): Promise<T> {
    const parts = buildParts(loadConfig(env), { logger: createSilentLogger() });
    try {
      await parts.db.migrate();
      return await body(createApp(parts));
    } finally {
      await closeParts(parts);
    }
  }

  beforeEach(async () => {
    const temp = tempDir('callvault-sweeps');
    cleanup = temp.cleanup;
    database = await createTestDatabase(backend, temp.dir);
    env = { CALLVAULT_DATA_DIR: temp.dir, CALLVAULT_DATABASE_URL: database.url, CALLVAULT_RETENTION_BATCH_SIZE: '5', CALLVAULT_LOG_LEVEL: 'warn' };
    ids = await withApp(async (app) => {
      const made: string[] = [];
      // Calls from 2020: far past every default period, so due now, whatever today is.
      for (let i = 0; i < COUNT; i += 1) made.push((await ingestRecording(app, { category: i % 2 ? 'admin' : 'general', startedAt: new Date('2020-03-01T10:00:00Z') })).id);
      // One under legal hold, one recent: neither may go.
      await app.retention.placeHold(made[0]!, 'claim 2020/3', 'dpo');
      made.push((await ingestRecording(app, { category: 'general', startedAt: new Date() })).id);
      return made;
    });
  });

  afterEach(async () => {
    await database.drop();
    cleanup();
  });

  async function assertFinished(): Promise<void> {
    await withApp(async (app) => {
      const log = await app.db.knex('destruction_log').select('recording_id');
      const destroyed = log.map((row: { recording_id: string }) => row.recording_id).sort();
      expect(destroyed).toEqual(ids.slice(1, COUNT).sort());
      expect(new Set(destroyed).size).toBe(destroyed.length);
      expect((await app.recordings.get(ids[0]!))?.status).toBe('stored');
      expect((await app.recordings.get(ids[COUNT]!))?.status).toBe('stored');
      expect(await app.db.knex('recordings').where({ status: 'destroying' })).toHaveLength(0);
      const remaining = await objectKeys(app);
      expect(remaining.sort()).toEqual([(await app.recordings.get(ids[0]!))!.storageKey, (await app.recordings.get(ids[COUNT]!))!.storageKey].sort());
    });
  }

  it.each([
    ['after marking a batch, before deleting its objects', 'retention.after-mark'],
    ['after deleting a batch of objects, before recording the destruction', 'retention.after-object-delete'],
  ])('a sweep killed %s: the next sweep finishes, nothing destroyed twice', async (_name, failpoint) => {
    const killed = await runCli(['retention', 'sweep'], { ...env, CALLVAULT_FAILPOINT: failpoint });
    expect(killed.code).toBeNull(); // died by SIGKILL
    const again = await runCli(['retention', 'sweep', '--json'], env);
    expect(again.code).toBe(0);
    const summary = JSON.parse(again.stdout) as { destroyed: number; failed: unknown[]; held: number };
    expect(summary.failed).toEqual([]);
    expect(summary.held).toBe(1);
    await assertFinished();
  });

  it('two sweeps at once on one database: each expired recording destroyed exactly once', async () => {
    const [a, b] = await Promise.all([runCli(['retention', 'sweep', '--json'], env), runCli(['retention', 'sweep', '--json'], env)]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const destroyed = [a, b].map((run) => (JSON.parse(run.stdout) as { destroyed: number }).destroyed);
    expect(destroyed[0]! + destroyed[1]!).toBe(COUNT - 1);
    await assertFinished();
    // A destroyed recording verifies as destroyed (exit 0), not as a missing object.
    const verify = await runCli(['verify', ids[1]!], env);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/destroyed/);
  });

  it('a dry run from the command line lists and changes nothing', async () => {
    const dry = await runCli(['retention', 'sweep', '--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`${COUNT - 1} recording\\(s\\) would be destroyed; 1 past their date are kept under legal hold`));
    await withApp(async (app) => {
      expect(await app.db.knex('destruction_log')).toHaveLength(0);
    });
  });
});
