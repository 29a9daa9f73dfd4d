import fs from 'node:fs';
import { parse } from 'csv-parse';
import type { Config } from '../../config';
import { AppError, toAppError } from '../errors';
import { decideRetention, type CallMetadata } from '../ingest/call-metadata';
import { genericEventToMetadata, validateGenericEvent } from '../providers/generic/event';
import { parseCallTime } from './call-time';

/**
 * The metadata CSV of a bulk import: one row per recording, with the fields of the generic event
 * (SPEC 2) as columns, so that an imported call is indexed exactly like one a PBX sends.
 *
 * | column | required | content |
 * | file | yes (unless consent is declined) | the audio file, relative to the import folder |
 * | recordingId | yes | the old system's id for the recording: what makes a re-run skip it |
 * | startedAt | yes | when the call started: retention counts from it (see call-time.ts for formats) |
 * | eventId, callId, direction, from, to, extension, line, team, endedAt, durationSec, consent, category | no | as in the generic event |
 * | staff | no | usernames separated by ";" |
 * | parties | no | people separated by ";", each "name" or "name|role" |
 *
 * Column names are matched without regard to case. An unknown column stops the import before
 * anything is stored: a misspelt "categroy" would otherwise drop every call into the default
 * retention period without a word.
 */

export const COLUMNS = ['file', 'recordingId', 'startedAt', 'eventId', 'callId', 'direction', 'from', 'to', 'extension', 'line', 'team', 'staff', 'parties', 'endedAt', 'durationSec', 'consent', 'category'] as const;
export type Column = (typeof COLUMNS)[number];
const REQUIRED_COLUMNS: readonly Column[] = ['file', 'recordingId', 'startedAt'];

export interface CsvRecord {
  /** The line of the CSV the row ends on (1 is the header). */
  readonly line: number;
  readonly values: Partial<Record<Column, string>>;
  /** Set when the row has a different number of fields than the header. */
  readonly fieldCountProblem: string | null;
}

/** Streams the rows of the CSV; a malformed file (an unclosed quote, a bad header) throws E_IMPORT_METADATA. */
export async function* readMetadataCsv(file: string): AsyncGenerator<CsvRecord> {
  let input: fs.ReadStream;
  try {
    fs.accessSync(file, fs.constants.R_OK);
    input = fs.createReadStream(file);
  } catch (error) {
    throw new AppError('E_IMPORT_METADATA', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const parser = input.pipe(parse({ bom: true, skip_empty_lines: true, relax_column_count: true, info: true, trim: true }));
  let header: Column[] | null = null;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      if (header === null) {
        header = readHeader(record);
        continue;
      }
      const values: Partial<Record<Column, string>> = {};
      header.forEach((column, index) => {
        const value = record[index];
        if (value !== undefined && value !== '') values[column] = value;
      });
      const fieldCountProblem = record.length === header.length ? null : `the row has ${record.length} field(s), the header ${header.length}`;
      yield { line: info.lines, values, fieldCountProblem };
    }
  } catch (error) {
    if (error instanceof AppError) throw error;
    const lines = (error as { lines?: number }).lines;
    throw new AppError('E_IMPORT_METADATA', `${file} is not valid CSV${lines ? ` (line ${lines})` : ''}: ${(error as Error).message}`, { cause: error });
  } finally {
    input.destroy();
  }
  if (header === null) throw new AppError('E_IMPORT_METADATA', `${file} is empty: it needs a header row naming the columns (${REQUIRED_COLUMNS.join(', ')}, ...)`);
}

function readHeader(names: string[]): Column[] {
  const byLowerCase = new Map(COLUMNS.map((column) => [column.toLowerCase(), column]));
  const header: Column[] = [];
  for (const name of names) {
    const column = byLowerCase.get(name.toLowerCase());
    if (!column) throw new AppError('E_IMPORT_METADATA', `unknown column "${name.slice(0, 40)}" in the header; the columns are ${COLUMNS.join(', ')}`);
    if (header.includes(column)) throw new AppError('E_IMPORT_METADATA', `column "${column}" appears twice in the header`);
    header.push(column);
  }
  const missing = REQUIRED_COLUMNS.filter((column) => !header.includes(column));
  if (missing.length > 0) throw new AppError('E_IMPORT_METADATA', `the header lacks the column(s) ${missing.join(', ')}`);
  return header;
}

export interface RowOk {
  readonly ok: true;
  readonly line: number;
  readonly recordingId: string;
  /** Null for a call recorded as declined (no audio). */
  readonly file: string | null;
  readonly metadata: CallMetadata;
}

export interface RowRejected {
  readonly ok: false;
  readonly line: number;
  readonly recordingId: string | null;
  readonly file: string | null;
  readonly code: string;
  readonly reason: string;
}

export type RowResult = RowOk | RowRejected;

/** A CSV row as call metadata, validated exactly as the generic webhook validates an event. */
export function interpretRow(record: CsvRecord, options: { source: string; config: Config; now: Date }): RowResult {
  const { values, line } = record;
  const recordingId = values.recordingId ?? null;
  const file = values.file ?? null;
  const reject = (code: string, reason: string): RowRejected => ({ ok: false, line, recordingId, file, code, reason });
  if (record.fieldCountProblem) return reject('E_VALIDATION', record.fieldCountProblem);
  if (!recordingId) return reject('E_VALIDATION', 'recordingId: required');
  try {
    const startedAt = time(values.startedAt, 'startedAt', options.config.retention.timezone, true);
    if (startedAt && startedAt.getTime() > options.now.getTime() + 60_000) return reject('E_VALIDATION', `startedAt: ${values.startedAt} is in the future`);
    const durationText = values.durationSec;
    if (durationText !== undefined && !/^\d+(\.\d+)?$/.test(durationText)) return reject('E_VALIDATION', `durationSec: "${durationText.slice(0, 20)}" is not a number of seconds`);
    const event = validateGenericEvent({
      eventId: values.eventId ?? `import-${recordingId}`,
      recordingId,
      callId: values.callId ?? null,
      direction: values.direction?.toLowerCase() ?? null,
      from: values.from ?? null,
      to: values.to ?? null,
      extension: values.extension ?? null,
      line: values.line ?? null,
      team: values.team ?? null,
      staff: list(values.staff),
      parties: list(values.parties)?.map((entry) => {
        const [name, role] = entry.split('|').map((part) => part.trim());
        return { name, role: role || null };
      }),
      startedAt: startedAt?.toISOString() ?? null,
      endedAt: time(values.endedAt, 'endedAt', options.config.retention.timezone, false)?.toISOString() ?? null,
      durationSec: durationText === undefined ? null : Number(durationText),
      consent: values.consent?.toLowerCase() ?? null,
      category: values.category?.toLowerCase() ?? null,
    });
    const metadata = genericEventToMetadata(event, options.source);
    if (metadata.consent !== 'declined' && !file) return reject('E_VALIDATION', 'file: required (only a call recorded as declined has no audio)');
    // An unknown category is refused here, before any audio is read, as the webhooks do.
    decideRetention(metadata.category, metadata.startedAt, options.now, options.config.retention);
    return { ok: true, line, recordingId, file: metadata.consent === 'declined' ? null : file, metadata };
  } catch (error) {
    const appError = toAppError(error);
    return reject(appError.code, appError.message);
  }
}

function time(text: string | undefined, field: string, timeZone: string, required: boolean): Date | null {
  if (text === undefined) {
    if (required) throw new AppError('E_VALIDATION', `${field}: required (retention counts from the original call date)`);
    return null;
  }
  const parsed = parseCallTime(text, timeZone);
  if (!parsed.ok) throw new AppError('E_VALIDATION', `${field}: ${parsed.problem}`);
  return parsed.value;
}

function list(text: string | undefined): string[] | null {
  if (text === undefined) return null;
  return text.split(';').map((item) => item.trim()).filter((item) => item !== '');
}
