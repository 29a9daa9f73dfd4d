import knex from 'knex';
import { AppError, toAppError } from '../../src/errors';
import { pgUrl } from '../helpers/backends';
import { tempDir } from '../helpers/temp';

/**
 * A database that cannot be used just now is E_DATABASE (work waits for it, attempts are not
 * used up); a statement the database refuses is a defect, E_INTERNAL, never retried forever.
 */
describe('database driver errors', () => {
  it('an unreachable PostgreSQL server (real driver, nothing listening) is E_DATABASE', async () => {
    const quiet = { warn: () => undefined, error: () => undefined, debug: () => undefined, deprecate: () => undefined };
    const db = knex({ client: 'pg', connection: 'postgres://postgres@127.0.0.1:1/test', pool: { min: 0, max: 1 }, acquireConnectionTimeout: 2000, log: quiet });
    const error = await db.raw('select 1').catch((e: unknown) => e);
    await db.destroy();
    expect(toAppError(error)).toMatchObject({ code: 'E_DATABASE', retryable: true, status: 503 });
  });

  it('a pool with no connection free in time (KnexTimeoutError) is E_DATABASE', () => {
    const timeout = Object.assign(new Error('Knex: Timeout acquiring a connection.'), { name: 'KnexTimeoutError' });
    expect(toAppError(timeout).code).toBe('E_DATABASE');
  });

  it('SQLite: a locked database is E_DATABASE; a constraint violation is E_INTERNAL', async () => {
    const { dir, cleanup } = tempDir('callvault-errors');
    const db = knex({ client: 'sqlite3', connection: { filename: `${dir}/x.sqlite` }, useNullAsDefault: true });
    await db.schema.createTable('t', (table) => table.integer('n').notNullable().unique());
    await db('t').insert({ n: 1 });
    const violation = await db('t').insert({ n: 1 }).catch((e: unknown) => e);
    await db.destroy();
    cleanup();
    expect((violation as { code: string }).code).toMatch(/^SQLITE_CONSTRAINT/);
    expect(toAppError(violation).code).toBe('E_INTERNAL');
    expect(toAppError(Object.assign(new Error('SQLITE_BUSY: database is locked'), { code: 'SQLITE_BUSY' })).code).toBe('E_DATABASE');
  });

  (pgUrl ? it : it.skip)('PostgreSQL: a refused statement (division by zero) is E_INTERNAL; an administrator shutdown (57P01) is E_DATABASE', async () => {
    const db = knex({ client: 'pg', connection: pgUrl! });
    const refused = await db.raw('select 1/0').catch((e: unknown) => e);
    await db.destroy();
    expect((refused as { code: string }).code).toBe('22012');
    expect(toAppError(refused).code).toBe('E_INTERNAL');
    expect(toAppError(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01', severity: 'FATAL' })).code).toBe('E_DATABASE');
  });

  it('an AppError passes through unchanged', () => {
    const error = new AppError('E_VALIDATION', 'x');
    expect(toAppError(error)).toBe(error);
  });
});
