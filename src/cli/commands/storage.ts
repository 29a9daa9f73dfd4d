import type { Command } from 'commander';
import type { Config } from '../../../config';
import { checkStorage } from '../../storage/check';
import { createObjectStore } from '../../storage/factory';
import { CommandFailure, loadConfigOrExit, print, printJson } from '../context';

export function storageTarget(config: Config): string {
  if (config.storage.kind === 'local') return `the folder ${config.storage.localDir}`;
  const s3 = config.storage.s3;
  return `bucket "${s3.bucket}" at ${s3.endpoint ?? `AWS (${s3.region})`}`;
}

export function registerStorage(program: Command): void {
  const storage = program.command('storage').description('storage operations');
  storage
    .command('check')
    .description('write, read back and delete a probe object; says what is wrong if a step fails')
    .option('--json', 'print the report as JSON')
    .action(async (options: { json?: boolean }) => {
      const config = loadConfigOrExit();
      const store = createObjectStore(config);
      try {
        const report = await checkStorage(store, { target: storageTarget(config) });
        if (options.json) printJson(report);
        else {
          print(`storage: ${report.adapter} (${storageTarget(config)})`);
          for (const step of report.steps) print(`  ${step.ok ? 'ok  ' : 'FAIL'} ${step.step.padEnd(16)} ${String(step.ms).padStart(5)} ms${step.problem ? `  ${step.problem}` : ''}`);
          print(report.ok ? 'storage check passed' : `storage check FAILED: ${report.advice}`);
        }
        if (!report.ok) throw new CommandFailure(report.advice ?? 'storage check failed');
      } finally {
        await store.close();
      }
    });
}
