import fs from 'node:fs';
import type { Command } from 'commander';
import { AppError } from '../../errors';
import { genericEventToMetadata, parseGenericEvent } from '../../providers/generic/event';
import { print, printJson, withApp } from '../context';

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('store one recording (WAV, MP3, Ogg, FLAC) with its metadata, through the same path as the webhooks')
    .argument('<audio-file>', 'the audio file')
    .requiredOption('--meta <event.json>', 'the call metadata as a generic event (SPEC 2), without recordingUrl')
    .option('--source <name>', 'the source the recording id belongs to', 'import')
    .option('--json', 'print as JSON')
    .action(async (audioFile: string, options: { meta: string; source: string; json?: boolean }) => {
      if (!/^[a-z][a-z0-9_-]{0,31}$/.test(options.source)) throw new AppError('E_VALIDATION', '--source must be a short lower-case name');
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
    });
}
