import fs from 'node:fs';
import path from 'node:path';
import type { App } from '../app';
import { AppError, isOurSideFailure, toAppError } from '../errors';
import { emptyStream } from '../ingest/spool';
import { interpretRow, readMetadataCsv, type RowOk, type RowRejected } from './metadata-csv';

/**
 * Bulk import of existing recordings: a folder of audio files and a metadata CSV
 * (metadata-csv.ts). Every row goes through `ingest.storeUpload`, the path the multipart webhook
 * takes, so an imported recording is encrypted, verified and indexed exactly like a new one, or
 * not stored at all: a row is never half-imported.
 *
 * Two passes over the CSV. The first checks every row (fields, dates, categories, the file is
 * there, the recording id is not repeated) and adds up the audio to import, so that a bad CSV
 * stops before anything is stored and the progress has a true total. The second imports the
 * rows that passed. Re-running skips what is already in (idempotent on the source and the
 * recording id); a row that failed before is tried again.
 */

export interface ImportOptions {
  readonly folder: string;
  readonly csv: string;
  readonly source: string;
  /** Check everything, store nothing. */
  readonly dryRun?: boolean;
  readonly onPlanned?: (plan: ImportPlan) => void;
  readonly onRowDone?: (bytes: number) => void;
}

export interface ImportPlan {
  readonly rows: number;
  readonly toImport: number;
  readonly bytes: number;
}

export interface ImportSummary {
  readonly rows: number;
  readonly imported: number;
  readonly importedBytes: number;
  /** Already in the index (a previous run, or a webhook): skipped without reading the file. */
  readonly alreadyImported: number;
  readonly rejected: readonly RowRejected[];
  /** Imported recordings whose retention period (counted from the call) has already ended. */
  readonly pastRetention: number;
  /** Set when storage or the database failed and the import stopped there (run again once fixed). */
  readonly stoppedAt: { readonly line: number; readonly code: string; readonly message: string } | null;
  readonly dryRun: boolean;
}

interface PlannedRow extends RowOk {
  readonly path: string | null;
  readonly size: number;
}

export async function bulkImport(app: App, options: ImportOptions): Promise<ImportSummary> {
  const folder = path.resolve(options.folder);
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) throw new AppError('E_VALIDATION', `${options.folder} is not a folder`);
  const now = app.clock.now();

  // Pass 1: check every row; keep only what pass 2 needs (line numbers of the rows to import).
  const rejected: RowRejected[] = [];
  const firstLineOf = new Map<string, number>();
  const accepted = new Set<number>();
  let rows = 0;
  let bytes = 0;
  for await (const record of readMetadataCsv(options.csv)) {
    rows += 1;
    const planned = plan(interpretRow(record, { source: options.source, config: app.config, now }), folder);
    if (!planned.ok) {
      rejected.push(planned);
      continue;
    }
    const first = firstLineOf.get(planned.recordingId);
    if (first !== undefined) {
      rejected.push({ ok: false, line: planned.line, recordingId: planned.recordingId, file: planned.file, code: 'E_IMPORT_DUPLICATE_ROW', reason: `recordingId ${planned.recordingId} repeats line ${first}; only that row is imported` });
      continue;
    }
    firstLineOf.set(planned.recordingId, planned.line);
    accepted.add(planned.line);
    bytes += planned.size;
  }
  firstLineOf.clear();
  options.onPlanned?.({ rows, toImport: accepted.size, bytes });

  let imported = 0;
  let importedBytes = 0;
  let alreadyImported = 0;
  let pastRetention = 0;
  let stoppedAt: ImportSummary['stoppedAt'] = null;
  if (!options.dryRun) {
    // Pass 2: import the rows that passed, in file order.
    for await (const record of readMetadataCsv(options.csv)) {
      if (!accepted.has(record.line)) continue;
      const row = plan(interpretRow(record, { source: options.source, config: app.config, now }), folder);
      if (!row.ok) continue;
      // In already: skipped without reading the file. A recording destroyed since (its retention
      // ended) counts as in too: a re-run must never bring a destroyed call back.
      const existing = await app.jobs.findBySource(options.source, row.recordingId);
      if (existing?.status === 'succeeded' || (await app.recordings.findBySource(options.source, row.recordingId))) {
        alreadyImported += 1;
        options.onRowDone?.(row.size);
        continue;
      }
      try {
        const audio = row.path ? fs.createReadStream(row.path) : emptyStream();
        const result = await app.ingest.storeUpload({ metadata: row.metadata, audio });
        if (result.duplicate) {
          alreadyImported += 1;
        } else {
          imported += 1;
          importedBytes += row.size;
          const recording = await app.recordings.get(result.recordingId);
          if (recording && recording.retainUntil.getTime() <= app.clock.now().getTime()) pastRetention += 1;
        }
      } catch (error) {
        const appError = toAppError(error);
        if (isOurSideFailure(appError)) {
          // Storage or the database is down: every further row would fail the same way. Stop; a re-run resumes.
          stoppedAt = { line: row.line, code: appError.code, message: appError.message };
          break;
        }
        rejected.push({ ok: false, line: row.line, recordingId: row.recordingId, file: row.file, code: appError.code, reason: appError.message });
      }
      options.onRowDone?.(row.size);
    }
  }
  rejected.sort((a, b) => a.line - b.line);
  return { rows, imported, importedBytes, alreadyImported, rejected, pastRetention, stoppedAt, dryRun: Boolean(options.dryRun) };
}

/** Resolves the row's file inside the folder (never outside it) and checks it is there. */
function plan(row: RowOk | RowRejected, folder: string): PlannedRow | RowRejected {
  if (!row.ok) return row;
  if (row.file === null) return { ...row, path: null, size: 0 };
  const reject = (code: string, reason: string): RowRejected => ({ ok: false, line: row.line, recordingId: row.recordingId, file: row.file, code, reason });
  const resolved = path.resolve(folder, row.file);
  const relative = path.relative(folder, resolved);
  if (path.isAbsolute(row.file) || relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) return reject('E_VALIDATION', 'file: must be a path inside the import folder');
  let stat: fs.Stats;
  try {
    stat = fs.statSync(resolved);
  } catch {
    return reject('E_AUDIO_MISSING', `file: ${row.file} is not in the import folder`);
  }
  if (!stat.isFile()) return reject('E_AUDIO_MISSING', `file: ${row.file} is not a regular file`);
  return { ...row, path: resolved, size: stat.size };
}

/** The rejects file: the CSV line, the recording id and file as given, and why. */
export function rejectsCsv(rejected: readonly RowRejected[]): string {
  const lines = ['line,recordingId,file,code,reason', ...rejected.map((row) => [String(row.line), row.recordingId ?? '', row.file ?? '', row.code, row.reason].map(csvField).join(','))];
  return `${lines.join('\n')}\n`;
}

function csvField(value: string): string {
  // Quote what needs it; a leading =, +, - or @ is prefixed so a spreadsheet does not run it as a formula.
  const safe = /^[=+\-@]/.test(value) ? `'${value}` : value;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
