import crypto from 'node:crypto';
import type { Clock } from '../clock';
import type { Database } from '../db/database';
import type { AuditLogRepository, AuditRow } from '../db/audit-log';
import { AppError } from '../errors';
import type { Logger } from '../log/logger';
import { canonicalJson } from './canonical-json';

/**
 * The audit trail: append-only and hash-chained. Entry n holds the hash of entry n-1 and its own
 * hash over its canonical content, so an entry edited, removed or inserted in the database breaks
 * the chain at a place `verify` names. Sequence numbers are unique in the database: two processes
 * appending at once cannot both take the same place. Each process appends after the head it last
 * wrote (read afresh when unknown); if another process appended meanwhile, the insert collides on
 * the sequence number, fails as a whole, and is built again on the new head. So every instance
 * writes into one chain, and the common case is a single INSERT statement.
 *
 * Appends made close together in this process are written together (group commit): a sweep that
 * destroys a thousand recordings costs a handful of statements, not a thousand commits.
 *
 * What the chain cannot show on its own: an entry removed from the end, or a chain rewritten
 * from some point on by someone who can write to the database and recomputes every later hash.
 * Against that, keep the head elsewhere: every append logs it (`audit.appended`, seq and hash,
 * into the log system), and `verify` checks an expected head when given one.
 */

export const GENESIS_HASH = '0'.repeat(64);

export type AuditAction =
  | 'auth.login'
  | 'auth.login_failed'
  | 'auth.locked'
  | 'auth.logout'
  | 'recording.search'
  | 'recording.view'
  | 'recording.play'
  | 'recording.export'
  | 'access_request.created'
  | 'access_request.approved'
  | 'access_request.dpo_approved'
  | 'access_request.rejected'
  | 'access_request.revoked'
  | 'retention.hold_placed'
  | 'retention.hold_removed'
  | 'retention.category_changed'
  | 'retention.destroyed'
  | 'release.recorded'
  | 'releases.read'
  | 'subject_access.exported'
  | 'audit.read'
  | 'user.added'
  | 'user.disabled'
  | 'user.password_changed'
  | 'key.generated'
  | 'key.rotated'
  | 'key.exported'
  | 'key.imported'
  | 'webhook.refused';

export interface AuditEvent {
  /** The username, or `system` (sweeps), or `cli:<os user>@<host>` (operator commands). */
  readonly actor: string;
  readonly actorRole?: string | null;
  readonly action: AuditAction;
  readonly recordingId?: string | null;
  /** No personal data beyond what the audit needs: numbers masked, names initialled (see masking.ts). */
  readonly details?: Record<string, unknown>;
}

export interface AuditEntry {
  readonly seq: number;
  readonly at: Date;
  readonly actor: string;
  readonly actorRole: string | null;
  readonly action: string;
  readonly recordingId: string | null;
  readonly details: Record<string, unknown>;
  readonly prevHash: string;
  readonly hash: string;
}

export interface ChainBreak {
  readonly seq: number;
  readonly problem: 'altered' | 'removed' | 'unlinked' | 'bad-start' | 'head-mismatch' | 'truncated';
  readonly message: string;
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly entries: number;
  readonly head: { readonly seq: number; readonly hash: string } | null;
  /** The first breaks found, in chain order (at most 20). */
  readonly breaks: readonly ChainBreak[];
}

interface Pending {
  readonly event: AuditEvent;
  readonly at: Date;
  resolve(entry: AuditEntry): void;
  reject(error: unknown): void;
}

const BATCH = 500;
const MAX_ATTEMPTS = 30;
const VERIFY_PAGE = 1000;
const MAX_BREAKS = 20;

export function entryHash(prevHash: string, entry: Omit<AuditRow, 'prevHash' | 'hash'>): string {
  const content = canonicalJson({
    seq: entry.seq,
    at: entry.at.toISOString(),
    actor: entry.actor,
    actorRole: entry.actorRole,
    action: entry.action,
    recordingId: entry.recordingId,
    details: entry.details,
  });
  return crypto.createHash('sha256').update(`${prevHash}\n${content}`).digest('hex');
}

export class AuditTrail {
  private pending: Pending[] = [];
  private flushing: Promise<void> | null = null;
  /** The last entry this process knows of; undefined: read it from the database first. */
  private head: { seq: number; hash: string } | null | undefined = undefined;

  constructor(
    private readonly deps: { db: Database; repo: AuditLogRepository; clock: Clock; logger: Logger },
  ) {}

  /** Resolves once the entry is committed; a read that must be traceable awaits it before answering. */
  append(event: AuditEvent): Promise<AuditEntry> {
    return new Promise<AuditEntry>((resolve, reject) => {
      this.pending.push({ event, at: this.deps.clock.now(), resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  /** Waits for appends already made in this process (a read of the trail sees them). */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flush(): Promise<void> {
    // Always asynchronous, so appends made in the same tick join this batch.
    await Promise.resolve();
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, BATCH);
        try {
          const entries = await this.write(batch);
          batch.forEach((item, i) => item.resolve(entries[i]!));
        } catch (error) {
          this.deps.logger.error('audit entries could not be written', { event: 'audit.append_failed', entries: batch.length, error });
          for (const item of batch) item.reject(error);
        }
      }
    } finally {
      // In the same step as the loop's last check: an append cannot slip in between and be left unwritten.
      this.flushing = null;
    }
  }

  private async write(batch: readonly Pending[]): Promise<AuditEntry[]> {
    const { db, repo } = this.deps;
    for (let attempt = 1; ; attempt += 1) {
      try {
        // The head this process wrote last, read afresh when unknown. If another process has
        // appended since, the insert collides on the sequence number and is retried on the new head.
        const head = this.head !== undefined ? this.head : (this.head = await repo.head(db.knex));
        let prevHash = head?.hash ?? GENESIS_HASH;
        let seq = head?.seq ?? 0;
        const rows: AuditRow[] = batch.map((item) => {
          seq += 1;
          const content = {
            seq,
            at: item.at,
            actor: item.event.actor,
            actorRole: item.event.actorRole ?? null,
            action: item.event.action,
            recordingId: item.event.recordingId ?? null,
            details: canonicalJson(item.event.details ?? {}),
          };
          const row = { ...content, prevHash, hash: entryHash(prevHash, content) };
          prevHash = row.hash;
          return row;
        });
        await repo.insert(rows);
        const last = rows[rows.length - 1]!;
        this.head = { seq: last.seq, hash: last.hash };
        this.deps.logger.info('audit appended', { event: 'audit.appended', seq: last.seq, hash: last.hash, entries: rows.length });
        return rows.map((row) => toEntry(row));
      } catch (error) {
        this.head = undefined;
        if (attempt >= MAX_ATTEMPTS || !db.codec.isUniqueViolation(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
      }
    }
  }

  async list(query: { actor?: string; action?: string; recordingId?: string; beforeSeq?: number; limit: number }): Promise<{ items: AuditEntry[]; nextCursor: string | null }> {
    await this.idle();
    const rows = await this.deps.repo.find({ ...query, limit: query.limit + 1 });
    const items = rows.slice(0, query.limit).map(toEntry);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > query.limit && last ? String(last.seq) : null };
  }

  /**
   * Walks the whole chain in pages (memory stays flat however long it is), recomputing every
   * hash and link. `expectHead` is a (seq, hash) noted earlier, e.g. from a log line: it shows
   * an entry removed from the end, or a chain rewritten since, which the chain alone cannot.
   */
  async verify(expectHead?: { seq: number; hash: string }): Promise<VerifyResult> {
    await this.idle();
    const breaks: ChainBreak[] = [];
    const report = (found: ChainBreak): void => {
      if (breaks.length < MAX_BREAKS) breaks.push(found);
    };
    let previous: { seq: number; hash: string } | null = null;
    let entries = 0;
    let sawExpected = false;
    for (;;) {
      const page = await this.deps.repo.pageAscending(previous?.seq ?? Number.MIN_SAFE_INTEGER, VERIFY_PAGE);
      if (page.length === 0) break;
      for (const row of page) {
        entries += 1;
        if (previous === null) {
          if (row.seq !== 1) report({ seq: row.seq, problem: row.seq > 1 ? 'removed' : 'bad-start', message: row.seq > 1 ? `the chain starts at entry ${row.seq}: entries 1 to ${row.seq - 1} were removed` : `entry ${row.seq} is before the start of the chain (inserted)` });
          else if (row.prevHash !== GENESIS_HASH) report({ seq: row.seq, problem: 'unlinked', message: 'entry 1 does not start from the genesis hash (replaced or inserted)' });
        } else if (row.seq !== previous.seq + 1) {
          report({ seq: row.seq, problem: 'removed', message: `entries ${previous.seq + 1} to ${row.seq - 1} were removed` });
        } else if (row.prevHash !== previous.hash) {
          report({ seq: row.seq, problem: 'unlinked', message: `entry ${row.seq} does not follow entry ${previous.seq}: entry ${previous.seq} was rewritten, or one was inserted or replaced here` });
        }
        if (entryHash(row.prevHash, row) !== row.hash) {
          report({ seq: row.seq, problem: 'altered', message: `entry ${row.seq} was altered: its content no longer matches its hash` });
        }
        if (expectHead && row.seq === expectHead.seq) {
          sawExpected = true;
          if (row.hash !== expectHead.hash) report({ seq: row.seq, problem: 'head-mismatch', message: `entry ${row.seq} is not the one noted earlier (hash ${expectHead.hash.slice(0, 12)}..., now ${row.hash.slice(0, 12)}...): the chain was rewritten from here or before` });
        }
        previous = { seq: row.seq, hash: row.hash };
      }
    }
    if (expectHead && !sawExpected) {
      report({ seq: expectHead.seq, problem: 'truncated', message: `entry ${expectHead.seq}, noted earlier, is gone: the chain was cut back to entry ${previous?.seq ?? 0}` });
    }
    return { ok: breaks.length === 0, entries, head: previous, breaks };
  }
}

/** A head noted earlier, as `<seq>:<hash>` (what verify prints and `audit.appended` logs). */
export function parseHead(text: string): { seq: number; hash: string } {
  const match = /^(\d{1,15}):([0-9a-f]{64})$/i.exec(text.trim());
  if (!match) throw new AppError('E_VALIDATION', 'expect: <seq>:<hash> as printed by audit verify or logged as audit.appended');
  return { seq: Number(match[1]), hash: match[2]!.toLowerCase() };
}

function toEntry(row: AuditRow): AuditEntry {
  return {
    seq: row.seq,
    at: row.at,
    actor: row.actor,
    actorRole: row.actorRole,
    action: row.action,
    recordingId: row.recordingId,
    details: JSON.parse(row.details) as Record<string, unknown>,
    prevHash: row.prevHash,
    hash: row.hash,
  };
}
