import fs from 'node:fs';
import os from 'node:os';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { loadConfig } from '../../config';
import { buildStorageAndKeys, createIngestWorker } from '../app';
import { systemClock } from '../clock';
import { createLogger } from '../log/logger';
import { MetricsRelay } from '../metrics/metrics-relay';
import type { ThreadMessage } from './ingest-threads';
import { RemoteLedger } from './ledger-rpc';

/**
 * Entry point of one ingest thread (see ingest-threads.ts): the same configuration and
 * composition root as the HTTP thread, with only the ingest workers running, and the database
 * reached through the HTTP thread (RemoteLedger).
 */
const INGEST_NICE = 10;

async function main(): Promise<void> {
  const { workers, index, ledgerPort } = workerData as { workers: number; index: number; ledgerPort: MessagePort };
  lowerThreadPriority();
  const base = loadConfig(process.env);
  const config = { ...base, queue: { ...base.queue, workers } };
  const logger = createLogger({ level: config.logLevel, defaultMeta: { service: 'callvault', thread: `ingest-${index}` } });
  // Prometheus scrapes the main thread: this thread's metric events travel there.
  const metrics = new MetricsRelay(parentPort!);
  const { store, keyring } = buildStorageAndKeys(config, logger, systemClock, metrics);
  const ledger = new RemoteLedger(ledgerPort);
  const { workers: pool } = createIngestWorker({ config, store, keyring, clock: systemClock, logger, ledger, metrics });
  pool.start();
  parentPort!.on('message', (message: ThreadMessage) => {
    if (message.type === 'nudge') pool.nudge();
    if (message.type === 'stop') {
      void pool
        .stop()
        .then(() => store.close())
        .finally(() => process.exit(0));
    }
  });
}

/**
 * Ingest is bulk work that can wait a few milliseconds; webhook acknowledgements cannot. On
 * Linux a thread has its own nice value, so this thread steps back and the HTTP thread gets a
 * core the moment a request arrives, even while every core is busy encrypting.
 */
function lowerThreadPriority(): void {
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) os.setPriority(tid, INGEST_NICE);
  } catch {
    // Not Linux, or not permitted: run at normal priority.
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`callvault ingest thread: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
