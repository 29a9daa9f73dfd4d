import os from 'node:os';
import path from 'node:path';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { Logger } from '../log/logger';
import type { IngestMetrics } from '../metrics/metrics';
import { relayMetric } from '../metrics/metrics-relay';
import type { JobLedger } from './ledger';
import { serveLedger } from './ledger-rpc';

/**
 * `callvault serve` runs the ingest workers in their own threads, apart from the HTTP thread.
 * Streaming, hashing and encrypting recordings is CPU work; on the thread that answers webhooks
 * it would delay every acknowledgement, and one thread would leave the other cores idle. Each
 * ingest thread builds its own parts (database connection, storage client, keyring) through the
 * same composition root, and records its work through this thread's database connection (one
 * SQLite writer per process).
 * The HTTP thread wakes them when it queues a job; a thread that dies is restarted.
 */

export interface IngestThreadsOptions {
  /** Concurrent jobs in this process, spread over the threads. */
  readonly workers: number;
  /** Threads to use (default: one per CPU, at most as many as workers). */
  readonly threads?: number;
  readonly logger: Logger;
  /** The database the threads record their work in (through this thread's connection). */
  readonly ledger: JobLedger;
  /** Where the threads' metric events land (they post them to this thread; see metrics-relay.ts). */
  readonly metrics?: IngestMetrics;
}

export type ThreadMessage = { type: 'nudge' } | { type: 'stop' };

const ENTRY = path.join(__dirname, 'ingest-thread-main.js');
const RESTART_DELAY_MS = 1000;
const YOUNG_GENERATION_MB = 4;

export class IngestThreads {
  private readonly threads: Array<Worker | null> = [];
  private stopping = false;
  private next = 0;

  constructor(private readonly options: IngestThreadsOptions) {}

  get count(): number {
    return this.threads.length;
  }

  start(): void {
    const wanted = Math.max(1, Math.min(this.options.threads ?? os.availableParallelism(), this.options.workers));
    const base = Math.floor(this.options.workers / wanted);
    const extra = this.options.workers % wanted;
    for (let index = 0; index < wanted; index += 1) this.spawn(index, base + (index < extra ? 1 : 0));
  }

  /** A job was queued: wake one thread (round robin); the others find work when they poll. */
  nudge(): void {
    const live = this.threads.filter((thread): thread is Worker => thread !== null);
    if (live.length === 0) return;
    live[this.next++ % live.length]!.postMessage({ type: 'nudge' } satisfies ThreadMessage);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.threads.map(
        (thread) =>
          new Promise<void>((resolve) => {
            if (!thread) return resolve();
            thread.once('exit', () => resolve());
            thread.postMessage({ type: 'stop' } satisfies ThreadMessage);
          }),
      ),
    );
  }

  private spawn(index: number, workers: number): void {
    const channel = new MessageChannel();
    serveLedger(channel.port1, this.options.ledger);
    const thread = new Worker(ENTRY, {
      workerData: { workers, index, ledgerPort: channel.port2 },
      transferList: [channel.port2],
      // A small young generation: the per-chunk buffers die young and are freed by frequent cheap
      // scavenges, instead of piling up as external memory until a full collection.
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    this.threads[index] = thread;
    const metrics = this.options.metrics;
    if (metrics) thread.on('message', (message: unknown) => relayMetric(message, metrics));
    thread.on('error', (error) => {
      this.options.logger.error('ingest thread failed', { event: 'ingest.thread_failed', thread: index, error: error.message });
    });
    thread.on('exit', (code) => {
      this.threads[index] = null;
      channel.port1.close();
      if (this.stopping) return;
      // Its jobs' leases expire and are taken over; start a replacement so capacity comes back.
      this.options.logger.error('ingest thread stopped; restarting it', { event: 'ingest.thread_exit', thread: index, code });
      setTimeout(() => {
        if (!this.stopping) this.spawn(index, workers);
      }, RESTART_DELAY_MS).unref();
    });
  }
}
