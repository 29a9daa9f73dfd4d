import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { CommandFailure, print, printJson, withApp } from '../context';
import { reasonOption, signInAs } from '../operator';

const FORMATS = ['mp3', 'wav', 'original'] as const;

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write a copy of a recording to a file, as a named user under their grant (the grant must name a release purpose); the copy is entered in the release register with its SHA-256')
    .argument('<recording-id>', 'the recording id')
    .requiredOption('--user <username>', 'who is exporting (password from standard input when it is a pipe, else asked for)')
    .requiredOption('--reason <text>', 'why, for the audit trail')
    .requiredOption('--out <file>', 'the file to write (refused if it exists, unless --force)')
    .option('--format <format>', FORMATS.join(' | '), 'mp3')
    .option('--grant <access-request-id>', 'the grant to export under, when several cover the recording')
    .option('--force', 'overwrite --out if it exists')
    .option('--json', 'print the release entry as JSON')
    .action(async (recordingId: string, options: { user: string; reason: string; out: string; format: string; grant?: string; force?: boolean; json?: boolean }) => {
      const format = FORMATS.find((candidate) => candidate === options.format);
      if (!format) throw new CommandFailure(`--format must be one of ${FORMATS.join(', ')}`, 2);
      const reason = reasonOption(options.reason);
      await withApp(async (app) => {
        const principal = await signInAs(app, options.user);
        const delivery = await app.access.audio.export(principal, recordingId.toLowerCase(), { format, reason, grantId: options.grant, channel: 'cli' });
        let file: fs.WriteStream;
        try {
          file = fs.createWriteStream(options.out, { flags: options.force ? 'w' : 'wx', mode: 0o600 });
          await new Promise<void>((resolve, reject) => file.once('open', () => resolve()).once('error', reject));
        } catch (error) {
          delivery.body.destroy();
          throw new CommandFailure(`cannot write ${options.out}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}${(error as NodeJS.ErrnoException).code === 'EEXIST' ? ' (use --force to overwrite)' : ''}`);
        }
        try {
          await pipeline(delivery.body, file);
          const fd = await fs.promises.open(options.out, 'r');
          await fd.sync().finally(() => fd.close());
        } catch (error) {
          // A copy that was not finished did not leave: remove it rather than leave half a file behind.
          await fs.promises.rm(options.out, { force: true });
          throw error;
        }
        const release = await delivery.settle(true);
        if (options.json) printJson(release);
        else print(`wrote ${options.out}: ${release!.bytes} bytes, sha256 ${release!.sha256}; release ${release!.id} (${release!.purpose}, to ${release!.recipient}) entered in the register`);
      });
    });
}
