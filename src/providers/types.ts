import type { Readable } from 'node:stream';
import type { Clock } from '../clock';
import type { FetchResponse, Expect } from '../fetch/safe-fetch';
import type { CallMetadata } from '../ingest/call-metadata';
import type { Logger } from '../log/logger';

/**
 * The worker-side half of a phone-system source: given the payload its webhook queued, say
 * what the call was and hand over the audio (fetched from the provider, through the SSRF-safe
 * fetcher bound to this source's allowed hosts). The webhook-side half (signature check and
 * parsing) lives in each provider's webhook module.
 */

export interface AudioSource {
  readonly stream: Readable;
  readonly contentType: string | null;
}

export type Resolution =
  | {
      readonly kind: 'audio';
      readonly metadata: CallMetadata;
      readonly audio: AudioSource;
      /** When deletion at source is on: what deleteAtSource needs, queued once the recording is stored and verified. */
      readonly sourceDeletion?: Record<string, unknown> | null;
    }
  /** Nothing to store: consent declined (not_retained) or the provider has no audio (unavailable). */
  | { readonly kind: 'no-audio'; readonly metadata: CallMetadata; readonly status: 'not_retained' | 'unavailable'; readonly reason: string };

export interface SourceFetch {
  (url: string, options: { expect: Expect; headers?: Record<string, string>; method?: 'GET' | 'DELETE' }): Promise<FetchResponse>;
}

export interface ResolveContext {
  readonly fetch: SourceFetch;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  readonly clock: Clock;
}

export interface ProviderIngest {
  readonly source: string;
  /** Hosts this source may fetch from by default (the operator's CALLVAULT_FETCH_ALLOW_HOSTS are added). */
  readonly defaultHosts: readonly string[];
  resolve(payload: Record<string, unknown>, context: ResolveContext): Promise<Resolution>;
  /** Removes the recording at the provider (only ever run after it is stored, verified and indexed here). */
  deleteAtSource?(deletion: Record<string, unknown>, context: ResolveContext): Promise<void>;
}
