import crypto from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { AppError } from '../errors';
import type { Metrics } from '../metrics/metrics';

/**
 * GET /metrics in Prometheus text format. The figures are counts only (no numbers, names or
 * recording ids), but the webhook port usually faces the internet: with CALLVAULT_METRICS_TOKEN
 * set, a scrape must carry it as a bearer token (Prometheus `authorization: credentials`).
 */
export function metricsRouter(deps: { metrics: Metrics; token: string | null }): Router {
  const router = express.Router();
  router.get('/metrics', (req: Request, res: Response, next: NextFunction) => {
    if (deps.token !== null && !bearerMatches(req.get('authorization'), deps.token)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="callvault metrics"');
      next(new AppError('E_METRICS_TOKEN', 'GET /metrics needs Authorization: Bearer <CALLVAULT_METRICS_TOKEN>'));
      return;
    }
    deps.metrics.scrape().then(
      (body) => {
        res.setHeader('Content-Type', deps.metrics.contentType);
        res.setHeader('Cache-Control', 'no-store');
        res.end(body);
      },
      (error: unknown) => next(error),
    );
  });
  return router;
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!match) return false;
  // Compare digests: equal length, constant time, whatever was sent.
  const digest = (text: string): Buffer => crypto.createHash('sha256').update(text).digest();
  return crypto.timingSafeEqual(digest(match[1]!.trim()), digest(token));
}

/** Counts each webhook request by source (known sources only, so a scan of random paths cannot grow the label set) and status class. */
export function webhookCounter(metrics: Metrics, sources: ReadonlySet<string>) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const source = /^\/webhooks\/([^/]+)\/?$/.exec(req.path)?.[1];
    if (source && sources.has(source)) res.on('finish', () => metrics.webhookReceived(source, res.statusCode));
    next();
  };
}
