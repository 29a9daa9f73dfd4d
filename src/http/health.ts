import express, { type Router } from 'express';
import type { Database } from '../db/database';
import { AppError, toAppError } from '../errors';
import type { Logger } from '../log/logger';
import type { ObjectStore } from '../storage/object-store';

/**
 * /healthz: the process answers (for a container's liveness check).
 * /readyz: the database and the storage both answer (for a load balancer): a 503 names which,
 * with the error code only. The route is open to anyone who can reach it, so the driver's own
 * message (host names, bucket, user) goes to the log, not into the answer.
 */
export function healthRouter(deps: { db: Database; store: ObjectStore; logger: Logger; timeoutMs?: number }): Router {
  const router = express.Router();
  const timeoutMs = deps.timeoutMs ?? 3000;

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (req, res) => {
    const [database, storage] = await Promise.all([
      probe(() => deps.db.ping(), timeoutMs),
      probe(async () => {
        await deps.store.head('healthcheck/readyz.probe');
      }, timeoutMs),
    ]);
    const ready = database.ok && storage.ok;
    for (const [name, result] of [['database', database], ['storage', storage]] as const) {
      if (result.detail) deps.logger.warn(`${name} is not ready`, { event: 'health.not_ready', component: name, requestId: req.id, code: result.problem, reason: result.detail });
    }
    const publicView = ({ detail: _detail, ...rest }: ProbeResult) => rest;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', database: publicView(database), storage: publicView(storage) });
  });

  return router;
}

interface ProbeResult {
  readonly ok: boolean;
  readonly ms: number;
  /** The error code, e.g. E_STORAGE_UNAVAILABLE. */
  readonly problem?: string;
  /** The full message, for the log only. */
  readonly detail?: string;
}

async function probe(check: () => Promise<void>, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new AppError('E_NOT_READY_TIMEOUT', `no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, ms: Math.round(performance.now() - started) };
  } catch (error) {
    const appError = toAppError(error);
    return { ok: false, ms: Math.round(performance.now() - started), problem: appError.code, detail: appError.message };
  } finally {
    clearTimeout(timer);
  }
}
