import fs from 'node:fs';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { withApp } from '../context';
import { reasonOption, signInAs } from '../operator';

export function registerReleases(program: Command): void {
  const releases = program.command('releases').description('the release register (the policies\' Annex B)');

  releases
    .command('export')
    .description('the whole register as CSV, to standard output or --out (read as a named user with a reason, like every read)')
    .requiredOption('--user <username>', 'who is reading (manager, ig_lead or dpo; password from standard input when it is a pipe)')
    .requiredOption('--reason <text>', 'why, for the audit trail')
    .option('--csv', 'CSV (the only format, and the default)')
    .option('--out <file>', 'write to this file instead of standard output')
    .action(async (options: { user: string; reason: string; out?: string }) => {
      const reason = reasonOption(options.reason);
      await withApp(async (app) => {
        const principal = await signInAs(app, options.user);
        const out: Writable = options.out ? fs.createWriteStream(options.out, { mode: 0o600 }) : process.stdout;
        for await (const line of app.access.releases.csv(principal, reason, 'cli')) {
          if (!out.write(line)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
        }
        if (out !== process.stdout) await new Promise<void>((resolve, reject) => out.once('error', reject).end(() => resolve()));
      });
    });
}
