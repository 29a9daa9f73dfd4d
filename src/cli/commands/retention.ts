import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { CommandFailure, print, printJson, withApp } from '../context';

export function registerRetention(program: Command): void {
  const retention = program.command('retention').description('rolling destruction of recordings past their retention period');

  retention
    .command('sweep')
    .description('destroy every recording past its retention period that is not under legal hold (one sweep at a time across all instances)')
    .option('--dry-run', 'list what would be destroyed and change nothing')
    .option('--json', 'print the summary as JSON')
    .action(async (options: { dryRun?: boolean; json?: boolean }) => {
      await withApp(async (app) => {
        const bar = process.stderr.isTTY && !options.json ? new SingleBar({ format: 'destroying {bar} {value}/{total} recordings | {eta_formatted} left', stream: process.stderr }) : null;
        let started = false;
        const summary = await app.retention.sweep({
          dryRun: options.dryRun,
          trigger: 'command',
          onProgress: ({ done, total }) => {
            if (!bar) return;
            if (!started) {
              bar.start(total, done);
              started = true;
            } else bar.update(done);
          },
        });
        bar?.stop();
        if (options.json) {
          printJson({ ...summary, wouldDestroy: summary.wouldDestroy.map((r) => ({ id: r.id, category: r.category, retainUntil: r.retainUntil, status: r.status })) });
        } else if (summary.skipped) {
          print(`retention sweep not run: ${summary.skipped}`);
        } else if (summary.dryRun) {
          print(`dry run: ${summary.eligible} recording(s) would be destroyed; ${summary.held} past their date are kept under legal hold; nothing was changed`);
          for (const recording of summary.wouldDestroy) print(`  ${recording.id}  ${recording.category.padEnd(10)} due ${recording.retainUntil.toISOString()}  ${recording.status}`);
          if (summary.eligible > summary.wouldDestroy.length) print(`  ... and ${summary.eligible - summary.wouldDestroy.length} more`);
        } else {
          print(`retention sweep ${summary.sweepId}: ${summary.eligible} due, ${summary.destroyed} destroyed, ${summary.failed.length} failed, ${summary.held} kept under legal hold (${Math.round(summary.durationMs)} ms)`);
          for (const failure of summary.failed.slice(0, 50)) print(`  FAILED ${failure.recordingId}: ${failure.code}: ${failure.message}`);
          if (summary.failed.length > 0) print('  failed recordings stay due; the next sweep tries them again');
        }
        if (summary.failed.length > 0) throw new CommandFailure(`${summary.failed.length} recording(s) could not be destroyed`);
      });
    });
}
