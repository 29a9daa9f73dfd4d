#!/usr/bin/env node
import { Command } from 'commander';
import { registerConfig } from './commands/config';
import { registerAudit } from './commands/audit';
import { registerExport } from './commands/export';
import { registerImport } from './commands/import';
import { registerJobs } from './commands/jobs';
import { registerKeys } from './commands/keys';
import { registerMigrate } from './commands/migrate';
import { registerReleases } from './commands/releases';
import { registerRetention } from './commands/retention';
import { registerServe } from './commands/serve';
import { registerStorage } from './commands/storage';
import { registerUsers } from './commands/users';
import { registerVerify } from './commands/verify';
import { reportAndExit } from './context';

/** The `callvault` program: one sub-command per operator task (SPEC 8). */
export function buildProgram(): Command {
  const program = new Command('callvault')
    .description('Encrypted call-recording vault: ingest, protect, index, destroy on time, release under control.')
    .showHelpAfterError()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  program.exitOverride((error) => {
    process.exit(error.exitCode === 0 ? 0 : 2);
  });
  registerServe(program);
  registerMigrate(program);
  registerStorage(program);
  registerKeys(program);
  registerVerify(program);
  registerImport(program);
  registerJobs(program);
  registerRetention(program);
  registerConfig(program);
  registerUsers(program);
  registerExport(program);
  registerReleases(program);
  registerAudit(program);
  return program;
}

if (require.main === module) {
  // Everything callvault creates (database, WAL, keys, objects, spool) is for its own user only.
  process.umask(0o077);
  buildProgram()
    .parseAsync(process.argv)
    .catch((error: unknown) => reportAndExit(error));
}
