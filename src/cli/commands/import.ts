import fs from 'node:fs';
import type { Command } from 'commander';
import { AppError } from '../../errors';
import { bulkImport, rejectsCsv, type ImportSummary } from '../../import/bulk-import';
import { genericEventToMetadata, parseGenericEvent } from '../../providers/generic/event';
import { CommandFailure, EXIT_USAGE, print, printJson, withApp } from '../context';
import { formatBytes, startProgress, type Progress } from '../progress';

interface ImportOptions {
  meta?: string;
  metadata?: string;
  rejects?: string;
  source: string;
  dryRun?: boolean;
  json?: boolean;
}

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('store existing recordings through the same path as the webhooks: one file with --meta, or a folder with a metadata CSV (--metadata)')
    .argument('<path>', 'an audio file (with --meta), or a folder of audio files (with --metadata)')
    .option('--meta <event.json>', 'one recording: its metadata as a generic event (SPEC 2), without recordingUrl')
    .option('--metadata <file.csv>', 'bulk: one row per recording (columns in docs/OPERATIONS.md: file, recordingId, startedAt, ...)')
    .option('--rejects <file.csv>', 'bulk: where rows that were not imported are listed, with line numbers and reasons', '<metadata>.rejects.csv')
    .option('--source <name>', 'the source the recording ids belong to (re-running with the same source skips what is in)', 'import')
    .option('--dry-run', 'bulk: check the CSV and the files, store nothing')
    .option('--json', 'print as JSON')
    .action(async (target: string, options: ImportOptions) => {
      if (!/^[a-z][a-z0-9_-]{0,31}$/.test(options.source)) throw new AppError('E_VALIDATION', '--source must be a short lower-case name');
      if (Boolean(options.meta) === Boolean(options.metadata)) throw new CommandFailure('give --meta <event.json> for one file, or --metadata <file.csv> for a folder', EXIT_USAGE);
      if (options.metadata) await importFolder(target, options as ImportOptions & { metadata: string });
      else await importOne(target, options as ImportOptions & { meta: string });
    });
}

async function importOne(audioFile: string, options: ImportOptions & { meta: string }): Promise<void> {
  let eventText: string;
  try {
    eventText = fs.readFileSync(options.meta, 'utf8');
  } catch (error) {
    throw new AppError('E_VALIDATION', `cannot read ${options.meta}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (!fs.existsSync(audioFile) || !fs.statSync(audioFile).isFile()) throw new AppError('E_AUDIO_MISSING', `no audio file at ${audioFile}`);
  const event = parseGenericEvent(eventText);
  const metadata = genericEventToMetadata(event, options.source);
  await withApp(async (app) => {
    const result = await app.ingest.storeUpload({ metadata, audio: fs.createReadStream(audioFile) });
    if (options.json) printJson(result);
    else if (result.duplicate) print(`already imported: recording ${result.recordingId} (${result.status})`);
    else print(`stored recording ${result.recordingId} (${result.status})`);
  });
}

async function importFolder(folder: string, options: ImportOptions & { metadata: string }): Promise<void> {
  const rejectsFile = !options.rejects || options.rejects === '<metadata>.rejects.csv' ? `${options.metadata.replace(/\.csv$/i, '')}.rejects.csv` : options.rejects;
  await withApp(async (app) => {
    let progress: Progress | null = null;
    let summary: ImportSummary;
    try {
      summary = await bulkImport(app, {
        folder,
        csv: options.metadata,
        source: options.source,
        dryRun: options.dryRun,
        onPlanned: (plan) => {
          if (!options.dryRun) progress = startProgress({ label: 'importing', total: plan.bytes, unit: 'bytes', totalItems: plan.toImport });
        },
        onRowDone: (bytes) => progress?.advance(bytes, 1),
      });
    } finally {
      (progress as Progress | null)?.stop();
    }
    fs.writeFileSync(rejectsFile, rejectsCsv(summary.rejected), { mode: 0o600 });
    if (options.json) printJson({ ...summary, rejectsFile });
    else printSummary(summary, rejectsFile);
    if (summary.stoppedAt) throw new CommandFailure(`import stopped at line ${summary.stoppedAt.line}: ${summary.stoppedAt.code}: ${summary.stoppedAt.message}; fix it and run the same command again (what is in is skipped)`);
    if (summary.rejected.length > 0) throw new CommandFailure(`${summary.rejected.length} row(s) were not imported; see ${rejectsFile}`);
  });
}

function printSummary(summary: ImportSummary, rejectsFile: string): void {
  if (summary.dryRun) {
    print(`dry run: ${summary.rows} row(s); ${summary.rows - summary.rejected.length} would be imported (or skipped if already in), ${summary.rejected.length} rejected (see ${rejectsFile})`);
  } else {
    print(`imported ${summary.imported} recording(s) (${formatBytes(summary.importedBytes)}) from ${summary.rows} row(s); ${summary.alreadyImported} already imported (skipped); ${summary.rejected.length} rejected (see ${rejectsFile})`);
  }
  for (const row of summary.rejected.slice(0, 20)) print(`  line ${row.line}: ${row.recordingId ?? '(no recordingId)'}: ${row.code}: ${row.reason}`);
  if (summary.rejected.length > 20) print(`  ... and ${summary.rejected.length - 20} more in ${rejectsFile}`);
  if (summary.pastRetention > 0) {
    print(`${summary.pastRetention} of the imported recording(s) are already past their retention period (counted from the original call date): the next retention sweep destroys them.`);
  }
}
