import type { Knex } from 'knex';
import * as m001 from './001_initial';
import * as m002 from './002_job_purpose';
import * as m003 from './003_retention';
import * as m004 from './004_access';

/**
 * Migrations are listed here rather than found on disk, so the same list runs from TypeScript
 * (tests) and from compiled JavaScript (the installed program) without a file-extension guess.
 * Append new migrations; never edit or reorder applied ones.
 */
const MIGRATIONS: ReadonlyArray<readonly [string, Knex.Migration]> = [
  ['001_initial', m001],
  ['002_job_purpose', m002],
  ['003_retention', m003],
  ['004_access', m004],
];

export const migrationSource: Knex.MigrationSource<readonly [string, Knex.Migration]> = {
  getMigrations: async () => [...MIGRATIONS],
  getMigrationName: (migration) => migration[0],
  getMigration: async (migration) => migration[1],
};
