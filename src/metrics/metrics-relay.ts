import type { IngestEvent, IngestMetrics, StorageErrorEvent } from './metrics';

/**
 * Ingest workers run in worker threads, but Prometheus scrapes the main thread's registry. An
 * ingest thread records through a MetricsRelay, which posts each event over the thread's port
 * (the one that already carries "nudge" and "stop" the other way); the main thread hands it to
 * its Metrics with relayMetric. Events are plain objects, so they cross by structured clone.
 */

export type MetricMessage =
  | { readonly type: 'metric'; readonly method: 'ingestFinished'; readonly event: IngestEvent }
  | { readonly type: 'metric'; readonly method: 'storageError'; readonly event: StorageErrorEvent };

export interface MessageSink {
  postMessage(message: MetricMessage): void;
}

export class MetricsRelay implements IngestMetrics {
  constructor(private readonly port: MessageSink) {}

  ingestFinished(event: IngestEvent): void {
    this.port.postMessage({ type: 'metric', method: 'ingestFinished', event });
  }

  storageError(event: StorageErrorEvent): void {
    this.port.postMessage({ type: 'metric', method: 'storageError', event });
  }
}

/** Applies a message from an ingest thread; false when it is not a metric message. */
export function relayMetric(message: unknown, metrics: IngestMetrics): boolean {
  const candidate = message as Partial<MetricMessage> | null;
  if (candidate?.type !== 'metric' || typeof candidate.event !== 'object' || candidate.event === null) return false;
  if (candidate.method === 'ingestFinished') metrics.ingestFinished(candidate.event as IngestEvent);
  else if (candidate.method === 'storageError') metrics.storageError(candidate.event as StorageErrorEvent);
  else return false;
  return true;
}
