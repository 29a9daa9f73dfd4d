import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isDeadLocalOwner, newOwnerId } from '../process-owner';
import type { Config } from '../../config';
import type { Clock } from '../clock';
import type { Database } from '../db/database';
import type { LeaseStore } from '../db/leases';
import type { DestructionRecord, DueRecording, HoldRecord, RetentionRepository } from '../db/retention';
import type { RecordingsRepository } from '../db/recordings';
import { AppError, toAppError } from '../errors';
import { failpoint } from '../failpoint';
import type { Logger } from '../log/logger';
import type { ObjectStore } from '../storage/object-store';
import { addPeriod, formatPeriod, longestPeriod, periodOf, subtractPeriod } from './period';

/**
 * Rolling destruction and what stops it. A sweep, alone in the whole cluster (a lease in the
 * database), takes the recordings whose period is up and nobody holds, in batches: marks them
 * "destroying", deletes their objects (S3: one DeleteObjects request per 1,000 keys), and only for
 * objects confirmed gone destroys the index side in one transaction: the wrapped data key (so no
 * backup or old version of the object can ever be decrypted), the call's personal details, and a
 * destruction record is written. A sweep killed at any point is finished by the next one; a
 * storage failure leaves the recording for the next sweep and is reported.
 */

export const SWEEP_LEASE = 'retention-sweep';
const LEASE_MS = 60_000;

export interface SweepOptions {
  readonly dryRun?: boolean;
  readonly trigger?: 'schedule' | 'command' | 'api';
  readonly batchSize?: number;
  readonly onProgress?: (progress: { done: number; total: number }) => void;
}

export interface SweepSummary {
  readonly sweepId: string | null;
  readonly dryRun: boolean;
  /** Set when the sweep did not run (another holds the lease). */
  readonly skipped: string | null;
  readonly startedAt: Date;
  /** Due at the start of the sweep (plus any left half done by an interrupted sweep). */
  readonly eligible: number;
  readonly destroyed: number;
  readonly failed: ReadonlyArray<{ readonly recordingId: string; readonly code: string; readonly message: string }>;
  /** Past their date, kept because of a legal hold. */
  readonly held: number;
  /** Dry run: what would go (at most 10,000 listed). */
  readonly wouldDestroy: readonly DueRecording[];
  readonly durationMs: number;
}

export interface RetentionDeps {
  readonly db: Database;
  readonly repo: RetentionRepository;
  readonly recordings: RecordingsRepository;
  readonly leases: LeaseStore;
  readonly store: ObjectStore;
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
}

export class RetentionService extends EventEmitter {
  private readonly owner = newOwnerId();

  constructor(private readonly deps: RetentionDeps) {
    super();
  }

  async placeHold(recordingId: string, reason: string, by: string): Promise<HoldRecord> {
    const hold = await this.deps.repo.placeHold(recordingId, requireText(reason, 'reason'), requireText(by, 'by'), this.deps.clock.now());
    this.deps.logger.info('legal hold placed', { event: 'retention.hold_placed', recordingId, holdId: hold.id });
    this.emit('hold-placed', hold);
    return hold;
  }

  /** Every hold ever placed on the recording, active and lifted, oldest first. */
  holds(recordingId: string): Promise<HoldRecord[]> {
    return this.deps.repo.holds(recordingId);
  }

  async removeHold(recordingId: string, reason: string, by: string): Promise<number> {
    const lifted = await this.deps.repo.removeHolds(recordingId, requireText(reason, 'reason'), requireText(by, 'by'), this.deps.clock.now());
    if (lifted === 0) {
      if (!(await this.deps.recordings.get(recordingId))) throw new AppError('E_RECORDING_NOT_FOUND', `no recording ${recordingId}`);
      throw new AppError('E_VALIDATION', `recording ${recordingId} has no legal hold to remove`);
    }
    this.deps.logger.info('legal hold removed', { event: 'retention.hold_removed', recordingId, holds: lifted });
    this.emit('hold-removed', { recordingId, reason, by, count: lifted });
    return lifted;
  }

  /** A new category recomputes the destruction date from the call's start. */
  async changeCategory(recordingId: string, category: string, reason: string, by: string): Promise<{ from: string; to: string; retainUntil: Date }> {
    const { config, recordings, repo, clock } = this.deps;
    const wanted = category.trim().toLowerCase();
    const period = periodOf(config.retention.periods, wanted);
    if (!period) throw new AppError('E_UNKNOWN_CATEGORY', `category "${wanted.slice(0, 40)}" is not configured; configured: ${Object.keys(config.retention.periods).join(', ')}`);
    const recording = await recordings.get(recordingId);
    if (!recording) throw new AppError('E_RECORDING_NOT_FOUND', `no recording ${recordingId}`);
    if (recording.status === 'destroyed') throw new AppError('E_RECORDING_DESTROYED', `recording ${recordingId} has been destroyed`);
    const retainUntil = addPeriod(recording.callTime, period);
    await repo.changeCategory(
      recordingId,
      { from: recording.category, to: wanted, fromRetainUntil: recording.retainUntil, toRetainUntil: retainUntil, reason: requireText(reason, 'reason'), by: requireText(by, 'by') },
      clock.now(),
    );
    this.deps.logger.info('category changed', { event: 'retention.category_changed', recordingId, fromCategory: recording.category, toCategory: wanted, retainUntil: retainUntil.toISOString() });
    this.emit('category-changed', { recordingId, from: recording.category, to: wanted, reason, by, retainUntil });
    return { from: recording.category, to: wanted, retainUntil };
  }

  async sweep(options: SweepOptions = {}): Promise<SweepSummary> {
    const { repo, leases, clock, logger } = this.deps;
    const started = performance.now();
    const now = clock.now();
    const dryRun = options.dryRun ?? false;
    const batchSize = options.batchSize ?? this.deps.config.retention.batchSize;
    const held = await repo.countHeldPastDate(now);

    if (dryRun) {
      const eligible = (await repo.countDue(now)) + (await repo.countUnfinished());
      const wouldDestroy = await repo.listDue(now, 10_000);
      return { sweepId: null, dryRun, skipped: null, startedAt: now, eligible, destroyed: 0, failed: [], held, wouldDestroy, durationMs: performance.now() - started };
    }

    if (!(await this.acquireLease(now))) {
      const holder = await leases.holder(SWEEP_LEASE);
      const skipped = `another sweep is running (${holder?.owner ?? 'unknown'}, lease until ${holder?.expiresAt.toISOString() ?? '?'})`;
      logger.info('retention sweep skipped', { event: 'retention.sweep_skipped', reason: skipped });
      return { sweepId: null, dryRun, skipped, startedAt: now, eligible: 0, destroyed: 0, failed: [], held, wouldDestroy: [], durationMs: performance.now() - started };
    }

    const sweepId = crypto.randomUUID();
    let leaseLost = false;
    const renewal = setInterval(() => {
      leases
        .renew(SWEEP_LEASE, this.owner, LEASE_MS, clock.now())
        .then((held) => {
          if (!held) leaseLost = true;
        })
        .catch(() => undefined);
    }, LEASE_MS / 3);
    renewal.unref();

    const failed: Array<{ recordingId: string; code: string; message: string }> = [];
    let destroyed = 0;
    let eligible = 0;
    let scrubbedJobs = 0;
    try {
      await repo.startSweep({ id: sweepId, owner: this.owner, trigger: options.trigger ?? 'command', dryRun }, now);
      eligible = (await repo.countDue(now)) + (await repo.countUnfinished());
      logger.info('retention sweep started', { event: 'retention.sweep_started', sweepId, eligible, held });
      options.onProgress?.({ done: 0, total: eligible });
      let handled = 0;
      while (!leaseLost) {
        const batch = await repo.claimBatch(sweepId, now, batchSize);
        if (batch.length === 0) break;
        failpoint(this.deps.config, 'retention.after-mark');
        const outcome = await this.destroyBatch(sweepId, batch, now);
        destroyed += outcome.destroyed;
        failed.push(...outcome.failed);
        handled += batch.length;
        options.onProgress?.({ done: Math.min(handled, eligible), total: eligible });
      }
      if (leaseLost) failed.push({ recordingId: '-', code: 'E_SWEEP_RUNNING', message: 'the sweep lease was lost (this process stalled); stopped early, the next sweep continues' });
      else scrubbedJobs = await repo.scrubFailedJobPayloads(subtractPeriod(now, longestPeriod(this.deps.config.retention.periods, now)), now);
    } finally {
      clearInterval(renewal);
      const problems = failed.map((f) => `${f.recordingId}: ${f.code}: ${f.message}`);
      await repo.finishSweep(sweepId, { eligible, destroyed, failed: failed.length, held, problems }, clock.now()).catch(() => undefined);
      if (destroyed > 0 || scrubbedJobs > 0) await this.deps.db.purgeErased().catch(() => undefined);
      await leases.release(SWEEP_LEASE, this.owner).catch(() => undefined);
    }
    const summary: SweepSummary = { sweepId, dryRun, skipped: null, startedAt: now, eligible, destroyed, failed, held, wouldDestroy: [], durationMs: performance.now() - started };
    logger.log(failed.length > 0 ? 'warn' : 'info', 'retention sweep finished', {
      event: 'retention.sweep_finished',
      sweepId,
      eligible,
      destroyed,
      failed: failed.length,
      held,
      scrubbedJobs,
      ms: Math.round(summary.durationMs),
    });
    this.emit('sweep-finished', summary);
    return summary;
  }

  /**
   * The sweep lease: free, expired, or held by a process on this machine that no longer exists
   * (a sweep killed a moment ago need not block the re-run until its lease runs out).
   */
  private async acquireLease(now: Date): Promise<boolean> {
    const { leases } = this.deps;
    if (await leases.acquire(SWEEP_LEASE, this.owner, LEASE_MS, now)) return true;
    const holder = await leases.holder(SWEEP_LEASE);
    if (!holder || !isDeadLocalOwner(holder.owner)) return false;
    this.deps.logger.warn('taking over the sweep lease of a process that is gone', { event: 'retention.lease_takeover', previousOwner: holder.owner });
    return leases.takeOver(SWEEP_LEASE, holder.owner, this.owner, LEASE_MS, now);
  }

  private async destroyBatch(sweepId: string, batch: readonly DueRecording[], now: Date): Promise<{ destroyed: number; failed: Array<{ recordingId: string; code: string; message: string }> }> {
    const { store, repo, config } = this.deps;
    const keys = batch.map((recording) => recording.storageKey).filter((key): key is string => key !== null);
    const confirmed = new Set<string>();
    const failures = new Map<string, { code: string; message: string }>();
    if (keys.length > 0) {
      try {
        const result = await store.deleteMany(keys);
        for (const key of result.deleted) confirmed.add(key);
        for (const { key, error } of result.failed) {
          const appError = toAppError(error);
          failures.set(key, { code: appError.code === 'E_INTERNAL' ? 'E_STORAGE_UNAVAILABLE' : appError.code, message: error.message });
        }
      } catch (error) {
        const appError = toAppError(error);
        for (const key of keys) failures.set(key, { code: appError.code, message: appError.message });
      }
    }
    failpoint(this.deps.config, 'retention.after-object-delete');
    const destroyedAt = this.deps.clock.now();
    const records: DestructionRecord[] = batch
      .filter((recording) => recording.storageKey === null || confirmed.has(recording.storageKey))
      .map((recording) => ({
        recordingId: recording.id,
        source: recording.source,
        category: recording.category,
        rule: recording.rule ?? ruleFor(config, recording.category),
        retainUntil: recording.retainUntil,
        plaintextSha256: recording.sha256,
        plaintextSize: recording.plaintextSize,
        hadAudio: recording.storageKey !== null,
        objectDeletionConfirmed: true,
        ingestedAt: recording.ingestedAt,
        destroyedAt,
        sweepId,
      }));
    const done = await repo.finish(records, now);
    for (const id of done) this.emit('destroyed', { recordingId: id, sweepId });
    const failed = batch
      .filter((recording) => recording.storageKey !== null && failures.has(recording.storageKey))
      .map((recording) => ({ recordingId: recording.id, ...failures.get(recording.storageKey!)! }));
    return { destroyed: done.length, failed };
  }

}

function ruleFor(config: Config, category: string): string {
  const period = periodOf(config.retention.periods, category);
  return period ? `${category}=${formatPeriod(period)}` : category;
}

function requireText(value: string, name: string): string {
  const text = value?.trim();
  if (!text) throw new AppError('E_VALIDATION', `${name}: required`);
  if (text.length > 2000) throw new AppError('E_VALIDATION', `${name}: at most 2000 characters`);
  return text;
}
