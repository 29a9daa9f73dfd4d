import http from 'node:http';
import type { Command } from 'commander';
import { describeConfig } from '../../../config';
import { buildParts, closeParts, createApp } from '../../app';
import { createLogger } from '../../log/logger';
import { Metrics } from '../../metrics/metrics';
import { IngestThreads } from '../../queue/ingest-threads';
import { scheduleSweeps } from '../../retention/schedule';
import { loadConfigOrExit } from '../context';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('start the HTTP server (webhooks, health checks) and the ingest workers')
    .action(async () => {
      const config = loadConfigOrExit();
      const logger = createLogger({ level: config.logLevel, defaultMeta: { service: 'callvault' } });
      // Process figures (CPU, memory, event-loop lag) only where Prometheus scrapes: the server.
      const parts = buildParts(config, { logger, metrics: new Metrics({ processMetrics: true }) });
      if (config.autoMigrate) {
        const applied = await parts.db.migrate();
        if (applied.length > 0) logger.info('database migrated', { event: 'db.migrated', applied });
      } else {
        const pending = await parts.db.pendingMigrations();
        if (pending.length > 0) throw new Error(`the database needs migrations (${pending.join(', ')}): run "callvault migrate"`);
      }
      const app = createApp(parts);
      const server = http.createServer(app.http);
      // Uploads of long recordings can take a while; headers must still arrive promptly.
      server.requestTimeout = 30 * 60 * 1000;
      server.headersTimeout = 30 * 1000;
      server.keepAliveTimeout = 5 * 1000;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, () => resolve());
      });
      // Ingest work runs in its own threads so that webhook acknowledgements never wait behind it.
      const threads = config.queue.workers > 0 && config.queue.threads !== 0 ? new IngestThreads({ workers: config.queue.workers, threads: config.queue.threads ?? undefined, logger, ledger: app.ledger, metrics: app.metrics }) : null;
      app.start({ workers: threads === null });
      if (threads) {
        threads.start();
        app.ingest.on('job-queued', () => threads.nudge());
      }
      const sweeps = scheduleSweeps(app.retention, config, logger);
      const address = server.address();
      logger.info('callvault is listening', {
        event: 'server.listening',
        port: typeof address === 'object' && address ? address.port : config.port,
        database: parts.db.dialect,
        storage: parts.store.name,
        masterKey: parts.keyring.currentKeyId,
        workers: config.queue.workers,
        ingestThreads: threads?.count ?? 0,
        publicUrl: config.publicUrl,
        retentionSchedule: `${config.retention.schedule} (${config.retention.timezone})`,
      });
      logger.debug('effective configuration', { event: 'config.effective', config: describeConfig(config) });

      let stopping = false;
      const stop = async (signal: string): Promise<void> => {
        if (stopping) return;
        stopping = true;
        logger.info('stopping', { event: 'server.stopping', signal });
        await sweeps?.stop();
        server.close();
        server.closeIdleConnections();
        await threads?.stop();
        await app.stop();
        await closeParts(parts);
        logger.info('stopped', { event: 'server.stopped' });
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
    });
}
