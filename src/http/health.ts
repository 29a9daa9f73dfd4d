import express, { type Router } from 'express';
import type { Database } from '../db/database';
import { toAppError } from '../errors';
import type { ObjectStore } from '../storage/object-store';

/**
 * /healthz: the process answers (for a container's liveness check).
 * /readyz: the database and the storage both answer (for a load balancer): a 503 names which.
 */
export function healthRouter(deps: { db: Database; store: ObjectStore; timeoutMs?: number }): Router {
  const router = express.Router();
  const timeoutMs = deps.timeoutMs ?? 3000;

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (_req, res) => {
    const [database, storage] = await Promise.all([
      probe(() => deps.db.ping(), timeoutMs),
      probe(async () => {
        await deps.store.head('healthcheck/readyz.probe');
      }, timeoutMs),
    ]);
    const ready = database.ok && storage.ok;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', database, storage });
  });

  return router;
}

async function probe(check: () => Promise<void>, timeoutMs: number): Promise<{ ok: boolean; ms: number; problem?: string }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, ms: Math.round(performance.now() - started) };
  } catch (error) {
    const appError = toAppError(error);
    return { ok: false, ms: Math.round(performance.now() - started), problem: `${appError.code}: ${appError.message}` };
  } finally {
    clearTimeout(timer);
  }
}
