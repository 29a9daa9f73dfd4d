import { Client } from 'pg';

/**
 * Runs once before the suite: is PostgreSQL reachable? If so, every black-box suite also runs
 * against it; if not, they are skipped, and this one line says so (never silently).
 */
export default async function globalSetup(): Promise<void> {
  const url = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    process.env.TEST_PG_AVAILABLE = url;
  } catch (error) {
    process.env.TEST_PG_AVAILABLE = '';
    process.stdout.write(`\nPostgreSQL is unreachable at ${url.replace(/\/\/[^@]*@/, '//')} (${(error as Error).message}): the PostgreSQL runs of the black-box suites are SKIPPED.\n`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
