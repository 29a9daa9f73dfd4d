import type { Command } from 'commander';
import type { App } from '../../app';
import { IntegrityRepository, type StoredRecordingRef } from '../../db/integrity';
import { AppError, toAppError } from '../../errors';
import { parseGracePeriod, removeOrphans, scanStorage, type OrphanRemoval, type StorageScan } from '../../integrity/orphans';
import { checkRecordings, type RecordingCheckResult } from '../../integrity/recording-check';
import { CommandFailure, EXIT_USAGE, print, printJson, positiveInteger, withApp } from '../context';
import { formatBytes, startProgress } from '../progress';

interface VerifyOptions {
  all?: boolean;
  sample?: string;
  orphans?: boolean;
  removeOrphans?: boolean;
  olderThan?: string;
  concurrency: string;
  json?: boolean;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('decrypt recordings and check their SHA-256 against the index; find corrupt, missing and orphaned objects (exit 1 on any problem)')
    .argument('[recording-id]', 'verify this one recording')
    .option('--all', 'every stored recording, then storage against the index (orphaned and missing objects)')
    .option('--sample <n>', 'this many stored recordings chosen at random')
    .option('--orphans', 'only compare storage with the index (no decryption): orphaned objects and missing ones')
    .option('--remove-orphans', 'delete orphaned objects older than --older-than (never objects of unfinished ingest jobs)')
    .option('--older-than <age>', 'grace period for --remove-orphans, e.g. 24h, 7d, 2w (at least 1h)')
    .option('--concurrency <n>', 'recordings decrypted at once', '2')
    .option('--json', 'print as JSON')
    .action(async (recordingId: string | undefined, options: VerifyOptions) => {
      const modes = [recordingId !== undefined, Boolean(options.all), options.sample !== undefined, Boolean(options.orphans) && !options.all].filter(Boolean).length;
      if (modes === 0 && !options.removeOrphans) throw new CommandFailure('name a recording id, or pass --all, --sample <n> or --orphans', EXIT_USAGE);
      if (modes > 1) throw new CommandFailure('give one of: a recording id, --all, --sample <n>, --orphans', EXIT_USAGE);
      if (recordingId !== undefined) {
        if (options.removeOrphans) throw new CommandFailure('--remove-orphans goes with --all or --orphans', EXIT_USAGE);
        await withApp((app) => verifyOne(app, recordingId, Boolean(options.json)));
        return;
      }
      const sample = options.sample === undefined ? null : positiveInteger(options.sample, '--sample');
      const concurrency = positiveInteger(options.concurrency, '--concurrency');
      let graceMs: number | null = null;
      if (options.removeOrphans) {
        if (sample !== null) throw new CommandFailure('--remove-orphans goes with --all or --orphans, not --sample', EXIT_USAGE);
        graceMs = options.olderThan === undefined ? null : parseGracePeriod(options.olderThan);
        if (graceMs === null) throw new CommandFailure('--remove-orphans needs --older-than <age> of at least 1h (e.g. 24h, 7d)', EXIT_USAGE);
      } else if (options.olderThan !== undefined) {
        throw new CommandFailure('--older-than goes with --remove-orphans', EXIT_USAGE);
      }
      const decrypt = Boolean(options.all) || sample !== null;
      const scan = Boolean(options.all) || Boolean(options.orphans) || Boolean(options.removeOrphans);
      await withApp(async (app) => {
        const repo = new IntegrityRepository(app.db);
        const check = decrypt ? await checkStored(app, repo, sample, concurrency) : null;
        const storage = scan ? await scanWithProgress(app, repo) : null;
        const removal = storage && graceMs !== null ? await removeOrphans(app.store, repo, storage.orphans, { olderThanMs: graceMs, now: app.clock.now() }) : null;
        const problems = report(check, storage, removal, Boolean(options.json));
        if (problems > 0) throw new CommandFailure(`verify found ${problems} problem(s)`);
      });
    });
}

async function verifyOne(app: App, recordingId: string, json: boolean): Promise<void> {
  const recording = await app.recordings.get(recordingId);
  if (!recording) throw new AppError('E_RECORDING_NOT_FOUND', `no recording ${recordingId}`);
  if (recording.status !== 'stored') {
    const result = { id: recording.id, status: recording.status, ok: true, reason: recording.statusReason };
    if (json) printJson(result);
    else print(`${recording.id}: ${recording.status}${recording.statusReason ? ` (${recording.statusReason})` : ''}; there is no audio to verify`);
    return;
  }
  try {
    const result = await app.vault.verify({
      storageKey: recording.storageKey!,
      keyId: recording.keyId!,
      wrappedKey: recording.wrappedKey!,
      plaintextSize: recording.plaintextSize!,
      sha256: recording.sha256!,
    });
    if (json) printJson({ id: recording.id, status: 'stored', ok: true, ...result });
    else print(`${recording.id}: OK  ${result.plaintextSize} bytes  sha256 ${result.sha256}`);
  } catch (error) {
    const appError = toAppError(error);
    if (json) printJson({ id: recording.id, status: 'stored', ok: false, code: appError.code, problem: appError.message });
    throw new CommandFailure(`${recording.id}: FAILED ${appError.code}: ${appError.message}`);
  }
}

async function checkStored(app: App, repo: IntegrityRepository, sample: number | null, concurrency: number): Promise<RecordingCheckResult> {
  let refs: AsyncIterable<StoredRecordingRef> | StoredRecordingRef[];
  let total: { count: number; bytes: number };
  if (sample === null) {
    refs = repo.allStored();
    total = await repo.storedTotals();
  } else {
    const chosen = await repo.sampleStored(sample);
    refs = chosen;
    total = { count: chosen.length, bytes: chosen.reduce((sum, ref) => sum + ref.plaintextSize, 0) };
  }
  const progress = startProgress({ label: 'verifying', total: total.bytes, unit: 'bytes', totalItems: total.count });
  try {
    return await checkRecordings(refs, app.vault, {
      concurrency,
      onChecked: (ref) => progress.advance(ref.plaintextSize, 1),
      stillStored: (ref) => repo.isStoredAt(ref.id, ref.storageKey),
    });
  } finally {
    progress.stop();
  }
}

async function scanWithProgress(app: App, repo: IntegrityRepository): Promise<StorageScan> {
  // The number of objects is only known once listed: count them as they come.
  let listed = 0;
  const ticker = setInterval(() => process.stderr.write(`callvault: scanning storage: ${listed} object(s) listed\n`), 10_000);
  try {
    return await scanStorage(app.store, repo, () => (listed += 1));
  } finally {
    clearInterval(ticker);
  }
}

/** Prints the findings; returns how many problems remain. */
function report(check: RecordingCheckResult | null, storage: StorageScan | null, removal: OrphanRemoval | null, json: boolean): number {
  const problems = check?.problems ?? [];
  // A missing object found by both passes is one problem.
  const missingOnly = (storage?.missing ?? []).filter((missing) => !problems.some((problem) => problem.recordingId === missing.recordingId));
  const removedKeys = new Set((removal?.removed ?? []).map((info) => info.key));
  const remainingOrphans = (storage?.orphans ?? []).filter((info) => !removedKeys.has(info.key));
  const count = problems.length + missingOnly.length + remainingOrphans.length + (removal?.failed.length ?? 0);

  if (json) {
    printJson({
      ok: count === 0,
      recordings: check ? { checked: check.checked, ok: check.ok, bytes: check.bytes, problems } : null,
      storage: storage
        ? {
            objects: storage.objects,
            inProgress: storage.inProgress,
            orphans: storage.orphans.map((info) => ({ key: info.key, size: info.size, lastModified: info.lastModified.toISOString(), removed: removedKeys.has(info.key) })),
            missing: storage.missing,
          }
        : null,
      removal: removal ? { removed: removal.removed.length, tooRecent: removal.tooRecent.length, failed: removal.failed } : null,
    });
    return count;
  }

  if (check) {
    const byKind = (kind: string): number => check.problems.filter((problem) => problem.kind === kind).length;
    print(`checked ${check.checked} recording(s), ${formatBytes(check.bytes)} decrypted: ${check.ok} ok, ${byKind('corrupt')} corrupt, ${byKind('missing')} missing, ${byKind('unreadable')} unreadable, ${byKind('error')} storage error(s)`);
    for (const problem of check.problems) print(`  ${problem.kind.toUpperCase().padEnd(10)} ${problem.recordingId}  ${problem.storageKey}  ${problem.code}: ${problem.message}`);
  }
  if (storage) {
    print(`storage: ${storage.objects} object(s) under recordings/; ${storage.orphans.length} orphaned (no recording in the index), ${storage.missing.length} recording(s) without their object, ${storage.inProgress} being written by unfinished jobs`);
    for (const missing of missingOnly) print(`  MISSING    ${missing.recordingId}  ${missing.storageKey}`);
    for (const orphan of storage.orphans) {
      const fate = removedKeys.has(orphan.key) ? '  removed' : removal?.tooRecent.includes(orphan) ? '  kept: younger than --older-than' : '';
      print(`  ORPHAN     ${orphan.key}  ${orphan.size} bytes  modified ${orphan.lastModified.toISOString()}${fate}`);
    }
    for (const failure of removal?.failed ?? []) print(`  NOT REMOVED ${failure.key}: ${failure.message}`);
    if (removal) print(`removed ${removal.removed.length} orphaned object(s); ${removal.tooRecent.length} younger than the grace period kept`);
    else if (storage.orphans.length > 0) print('orphaned objects hold no recording anyone can find; remove them with --remove-orphans --older-than 7d');
  }
  print(count === 0 ? 'no problems found' : `${count} problem(s) found`);
  return count;
}

