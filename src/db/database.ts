import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { AppError } from '../errors';
import { migrationSource } from './migrations';

/**
 * The index database: SQLite (one file, the embedded default) or PostgreSQL (several instances).
 * Both run the same migrations and the same queries; the few differences (how a time or a JSON
 * value travels, how a job is claimed) are in this folder and nowhere else.
 */

export type Dialect = 'sqlite' | 'pg';

export interface DatabaseOptions {
  readonly url: string;
  /** SQLite only: FULL makes each commit survive power loss. */
  readonly sqliteSynchronous?: 'FULL' | 'NORMAL';
  readonly poolMax?: number;
  /** Where knex's own warnings go (default: knex's console output); `config check` reports errors itself. */
  readonly log?: Knex.Logger;
}

export class Database {
  readonly codec: Codec;
  private readonly gate: PriorityGate | null;

  constructor(
    readonly knex: Knex,
    readonly dialect: Dialect,
    readonly schema: string | null,
  ) {
    this.codec = new Codec(dialect);
    this.gate = dialect === 'sqlite' ? new PriorityGate() : null;
  }

  /**
   * Runs `work` with the database, webhook acknowledgements first. SQLite serves one process
   * through a single connection, so every statement queues for it; a webhook commit waiting
   * behind a run of ingest bookkeeping would be acknowledged late. `urgent` work (queueing a
   * webhook's job) goes ahead of `background` work (what ingest workers record). PostgreSQL
   * has a connection per caller and needs no gate.
   */
  async scheduled<T>(priority: 'urgent' | 'background', work: () => Promise<T>): Promise<T> {
    if (!this.gate) return work();
    const release = await this.gate.acquire(priority === 'urgent');
    try {
      return await work();
    } finally {
      release();
    }
  }

  /**
   * A transaction, retried when SQLite reports the file busy (another process holds the write
   * lock longer than busy_timeout, or this snapshot went stale) or PostgreSQL a serialisation
   * failure or deadlock. The body must be safe to run again: it only talks to the database.
   */
  async transaction<T>(body: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.knex.transaction(body);
      } catch (error) {
        if (attempt >= 8 || !isTransient(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
      }
    }
  }

  async migrate(): Promise<string[]> {
    if (this.dialect === 'pg' && this.schema) {
      await this.knex.raw('create schema if not exists ??', [this.schema]);
    }
    const [, applied] = (await this.knex.migrate.latest({ migrationSource })) as [number, string[]];
    return applied;
  }

  async pendingMigrations(): Promise<string[]> {
    const [, pending] = (await this.knex.migrate.list({ migrationSource })) as [unknown, Array<{ file: string } | string>];
    return pending.map((entry) => (typeof entry === 'string' ? entry : entry.file));
  }

  /**
   * After a destruction: SQLite keeps old page images in its write-ahead log until a checkpoint;
   * a truncating checkpoint moves them out, so erased details leave no copy in the WAL file
   * either (best effort: other processes' open reads can delay it to the next one). PostgreSQL
   * removes dead rows by (auto)vacuum.
   */
  async purgeErased(): Promise<void> {
    if (this.dialect === 'sqlite') await this.knex.raw('PRAGMA wal_checkpoint(TRUNCATE)');
  }

  /** For /readyz: a round trip to the database. */
  async ping(): Promise<void> {
    await this.knex.raw('select 1');
  }

  async close(): Promise<void> {
    await this.knex.destroy();
  }
}

function isTransient(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === '40001' || code === '40P01';
}

export function openDatabase(options: DatabaseOptions): Database {
  const { url } = options;
  if (url.startsWith('sqlite:')) {
    const filename = url.slice('sqlite:'.length);
    if (filename !== ':memory:') fs.mkdirSync(path.dirname(filename), { recursive: true, mode: 0o700 });
    const synchronous = options.sqliteSynchronous ?? 'FULL';
    const knex = knexFactory({
      client: 'sqlite3',
      log: options.log,
      connection: { filename },
      useNullAsDefault: true,
      // One connection: SQLite allows one writer, and a single connection keeps transactions simple.
      pool: {
        min: 1,
        max: 1,
        afterCreate: (connection: SqliteConnection, done: (error: Error | null, connection: unknown) => void) => {
          connection.serialize(() => {
            connection.run('PRAGMA journal_mode = WAL');
            connection.run(`PRAGMA synchronous = ${synchronous}`);
            connection.run('PRAGMA foreign_keys = ON');
            // Deleted and overwritten content is zeroed in the file, not left in free pages:
            // destroying a call's details must leave nothing to recover from the database file.
            connection.run('PRAGMA secure_delete = ON');
            connection.run('PRAGMA busy_timeout = 10000', (error: Error | null) => done(error, connection));
          });
        },
      },
    });
    return new Database(knex, 'sqlite', null);
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const parsed = new URL(url);
    const schema = parsed.searchParams.get('schema');
    parsed.searchParams.delete('schema');
    if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new AppError('E_CONFIG_INVALID', 'CALLVAULT_DATABASE_URL: ?schema= must be a lower-case identifier');
    }
    const knex = knexFactory({
      client: 'pg',
      log: options.log,
      connection: parsed.toString(),
      searchPath: schema ? [schema] : undefined,
      pool: { min: 0, max: options.poolMax ?? 10 },
    });
    return new Database(knex, 'pg', schema);
  }
  throw new AppError('E_CONFIG_INVALID', 'CALLVAULT_DATABASE_URL must start with sqlite: or postgres://');
}

/** One holder at a time; urgent waiters are served before background ones. */
class PriorityGate {
  private busy = false;
  private readonly urgent: Array<() => void> = [];
  private readonly background: Array<() => void> = [];

  acquire(urgent: boolean): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = (): void => resolve(() => this.release());
      if (!this.busy) {
        this.busy = true;
        grant();
      } else {
        (urgent ? this.urgent : this.background).push(grant);
      }
    });
  }

  private release(): void {
    const next = this.urgent.shift() ?? this.background.shift();
    if (next) next();
    else this.busy = false;
  }
}

interface SqliteConnection {
  serialize(callback: () => void): void;
  run(sql: string, callback?: (error: Error | null) => void): void;
}

/**
 * How values cross the database boundary so that both dialects behave the same:
 * times are Date in code, timestamptz in PostgreSQL and ISO-8601 UTC text in SQLite (which sorts
 * and compares correctly as text); JSON is text on the way in and an object on the way out;
 * booleans and 64-bit counts come back as boolean and number.
 */
export class Codec {
  constructor(private readonly dialect: Dialect) {}

  time(value: Date): Date | string;
  time(value: Date | null | undefined): Date | string | null;
  time(value: Date | null | undefined): Date | string | null {
    if (value === null || value === undefined) return null;
    return this.dialect === 'pg' ? value : value.toISOString();
  }

  readTime(value: unknown): Date | null {
    if (value === null || value === undefined) return null;
    if (value instanceof Date) return value;
    return new Date(value as string);
  }

  json(value: unknown): string {
    return JSON.stringify(value ?? null);
  }

  readJson<T>(value: unknown): T {
    if (value === null || value === undefined) return null as T;
    return (typeof value === 'string' ? JSON.parse(value) : value) as T;
  }

  readBool(value: unknown): boolean {
    return value === true || value === 1 || value === '1' || value === 't';
  }

  readNumber(value: unknown): number | null {
    if (value === null || value === undefined) return null;
    return typeof value === 'number' ? value : Number(value);
  }

  readBuffer(value: unknown): Buffer | null {
    if (value === null || value === undefined) return null;
    return Buffer.isBuffer(value) ? value : Buffer.from(value as Uint8Array);
  }

  /** The error a unique constraint raises, in either dialect. */
  isUniqueViolation(error: unknown): boolean {
    const err = error as { code?: string; errno?: number; message?: string };
    if (this.dialect === 'pg') return err.code === '23505';
    return err.code === 'SQLITE_CONSTRAINT' && /UNIQUE/i.test(err.message ?? '');
  }
}
