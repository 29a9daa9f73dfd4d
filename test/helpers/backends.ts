import crypto from 'node:crypto';
import path from 'node:path';
import { Client } from 'pg';

/**
 * The index backends every black-box suite runs against. SQLite always; PostgreSQL when the
 * global setup found it reachable (each suite gets its own schema, dropped afterwards).
 */

export type Backend = 'sqlite' | 'pg';

export const pgUrl = process.env.TEST_PG_AVAILABLE || null;

export const BACKENDS: Backend[] = pgUrl ? ['sqlite', 'pg'] : ['sqlite'];

/** describe() once per available backend. */
export function describeEachBackend(name: string, body: (backend: Backend) => void): void {
  for (const backend of ['sqlite', 'pg'] as Backend[]) {
    const run = backend === 'sqlite' || pgUrl ? describe : describe.skip;
    run(`${name} [${backend}]`, () => body(backend));
  }
}

export interface TestDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(backend: Backend, dataDir: string): Promise<TestDatabase> {
  if (backend === 'sqlite') return { url: `sqlite:${path.join(dataDir, 'callvault.sqlite')}`, drop: async () => undefined };
  const schema = `t_${crypto.randomBytes(6).toString('hex')}`;
  const base = new URL(pgUrl!);
  base.searchParams.set('schema', schema);
  return {
    url: base.toString(),
    drop: async () => {
      const client = new Client({ connectionString: pgUrl! });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    },
  };
}
