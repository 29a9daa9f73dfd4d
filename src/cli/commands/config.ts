import type { Command } from 'commander';
import { describeConfig } from '../../../config';
import { systemClock } from '../../clock';
import { checkInstallation } from '../../doctor/config-check';
import { createObjectStore } from '../../storage/factory';
import { CommandFailure, loadConfigOrExit, print, printJson } from '../context';
import { storageTarget } from './storage';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('configuration');
  config
    .command('check')
    .description('print the effective configuration (secrets masked) and every problem found: storage, key files and their permissions, data folder, database')
    .option('--json', 'print as JSON')
    .action(async (options: { json?: boolean }) => {
      // A value that does not parse stops here with exit 2, every such problem named.
      const effective = loadConfigOrExit();
      const findings = await checkInstallation({ config: effective, env: process.env, clock: systemClock, openStore: () => createObjectStore(effective), storageTarget: storageTarget(effective) });
      const problems = findings.filter((finding) => finding.level === 'problem').length;
      const warnings = findings.filter((finding) => finding.level === 'warning').length;
      if (options.json) {
        printJson({ ok: problems === 0, configuration: describeConfig(effective), findings });
      } else {
        print('effective configuration (secrets masked):');
        for (const [name, value] of Object.entries(describeConfig(effective))) print(`  ${name}=${value}`);
        print('');
        print('checks:');
        for (const finding of findings) print(`  ${finding.level === 'ok' ? 'ok     ' : finding.level === 'warning' ? 'WARNING' : 'PROBLEM'}  ${finding.area.padEnd(8)} ${finding.message}`);
        print('');
        print(problems === 0 ? `no problems${warnings > 0 ? `, ${warnings} warning(s)` : ''}` : `${problems} problem(s), ${warnings} warning(s)`);
      }
      if (problems > 0) throw new CommandFailure(`config check found ${problems} problem(s)`);
    });
}
