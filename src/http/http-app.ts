import express, { type Express, type Request } from 'express';
import type { Config } from '../../config';
import type { Clock } from '../clock';
import type { Database } from '../db/database';
import type { IngestService } from '../ingest/ingest-service';
import type { Logger } from '../log/logger';
import type { Metrics } from '../metrics/metrics';
import { providerIngests, webhookRouters } from '../providers';
import { apiRouter, type ApiDeps } from './api-router';
import type { ObjectStore } from '../storage/object-store';
import { errorHandler, notFound } from './errors';
import { healthRouter } from './health';
import { metricsRouter, webhookCounter } from './metrics-route';
import { requestContext } from './request-context';

export interface HttpDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly db: Database;
  readonly store: ObjectStore;
  readonly ingest: IngestService;
  readonly spoolDir: string;
  readonly metrics: Metrics;
  /** The JSON API under /api (sign-in, search, audio, grants, releases, audit). */
  readonly api: ApiDeps;
  readonly onWebhookRefused?: (source: string, code: string) => void;
}

/** The HTTP surface: health, metrics, webhooks, the API under /api, one error format everywhere. */
export function createHttpApp(deps: HttpDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  if (deps.config.trustProxy) app.set('trust proxy', deps.config.trustProxy);
  app.use(requestContext(deps.logger));
  app.use(healthRouter({ db: deps.db, store: deps.store, logger: deps.logger }));
  app.use(metricsRouter({ metrics: deps.metrics, token: deps.config.metrics.token }));
  app.use(webhookCounter(deps.metrics, new Set(providerIngests(deps.config).keys())));

  const publicUrlOf = (req: Request): string =>
    // Behind a trusted proxy, Express derives protocol and host from X-Forwarded-Proto/Host;
    // otherwise the configured public URL is what the provider called.
    deps.config.trustProxy ? `${req.protocol}://${req.host}${req.originalUrl}` : `${deps.config.publicUrl}${req.originalUrl}`;

  for (const router of webhookRouters({ config: deps.config, clock: deps.clock, ingest: deps.ingest, spoolDir: deps.spoolDir, publicUrlOf, onRefused: deps.onWebhookRefused })) {
    app.use(router);
  }

  app.use('/api', apiRouter(deps.api));

  app.use(notFound());
  app.use(errorHandler());
  return app;
}
