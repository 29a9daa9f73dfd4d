import type { Command } from 'commander';
import { openDatabase } from '../../db/database';
import { loadConfigOrExit, print } from '../context';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('create or upgrade the index database schema (safe to run repeatedly and from several instances)')
    .action(async () => {
      const config = loadConfigOrExit();
      const db = openDatabase({ url: config.databaseUrl, sqliteSynchronous: config.sqliteSynchronous });
      try {
        const applied = await db.migrate();
        print(applied.length > 0 ? `applied: ${applied.join(', ')}` : 'the database is up to date');
      } finally {
        await db.close();
      }
    });
}
