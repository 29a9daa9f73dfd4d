import type { Clock } from '../clock';
import type { Rewrap, WrappedKeysRepository } from '../db/wrapped-keys';
import { toAppError } from '../errors';
import type { Keyring } from './keyring';

/**
 * Key rotation: every recording's data key is unwrapped with the master key it is under and
 * wrapped again under the keyring's current key. Only the small wrapped keys in the index
 * change; the audio objects are not touched (their data keys stay the same).
 *
 * Work goes in batches, each committed on its own, so a rotation stopped at any point (a kill,
 * a power cut, --max-batches) leaves every recording under either its old key or the new one,
 * both in the key folder, and running it again carries on with what is left. Each row is
 * updated only if it is still under the key it was read with, so serve processes and a second
 * rotation running at the same time cannot lose a write.
 */

export interface RotationOptions {
  readonly keyring: Keyring;
  readonly wrappedKeys: WrappedKeysRepository;
  readonly clock: Clock;
  /** Recordings per batch (one transaction each). */
  readonly batchSize: number;
  /** Stop after this many batches (spread a long rotation over several runs); unlimited when absent. */
  readonly maxBatches?: number;
  /** Called after each batch is committed. */
  readonly onBatch?: (progress: { readonly processed: number }) => void;
  /** Runs inside each batch's transaction before it commits (crash tests). */
  readonly beforeCommit?: (batch: number) => void;
}

export interface RotationFailure {
  readonly recordingId: string;
  readonly keyId: string;
  readonly code: string;
  readonly message: string;
}

export interface RotationResult {
  readonly targetKeyId: string;
  readonly rewrapped: number;
  /** Rows that changed under us (another rotation, or a destruction) and were left as they were. */
  readonly skipped: number;
  readonly failures: readonly RotationFailure[];
  readonly batches: number;
  /** True when --max-batches stopped the run before the end. */
  readonly stoppedEarly: boolean;
  /** Recordings still under another key once this run ended (failures, newly stored ones, or the rest after an early stop). */
  readonly remaining: number;
}

export async function rewrapAll(options: RotationOptions): Promise<RotationResult> {
  const { keyring, wrappedKeys, clock } = options;
  const targetKeyId = keyring.currentKeyId;
  const failures: RotationFailure[] = [];
  let afterId: string | null = null;
  let rewrapped = 0;
  let skipped = 0;
  let batches = 0;
  let stoppedEarly = false;

  for (;;) {
    if (options.maxBatches !== undefined && batches >= options.maxBatches) {
      stoppedEarly = (await wrappedKeys.pageNotUnder(targetKeyId, afterId, 1)).length > 0;
      break;
    }
    const page = await wrappedKeys.pageNotUnder(targetKeyId, afterId, options.batchSize);
    if (page.length === 0) break;
    const rewraps: Rewrap[] = [];
    for (const row of page) {
      let dataKey: Buffer | null = null;
      try {
        dataKey = keyring.unwrap(row.keyId, row.wrappedKey);
        const wrapped = keyring.wrap(dataKey);
        rewraps.push({ id: row.id, fromKeyId: row.keyId, toKeyId: wrapped.keyId, wrappedKey: wrapped.wrappedKey });
      } catch (error) {
        const appError = toAppError(error);
        failures.push({ recordingId: row.id, keyId: row.keyId, code: appError.code, message: appError.message });
      } finally {
        dataKey?.fill(0);
      }
    }
    const batch = batches;
    const updated = await wrappedKeys.apply(rewraps, clock.now(), options.beforeCommit ? () => options.beforeCommit!(batch) : undefined);
    rewrapped += updated;
    skipped += rewraps.length - updated;
    batches += 1;
    afterId = page[page.length - 1]!.id;
    options.onBatch?.({ processed: page.length });
  }

  const remaining = await wrappedKeys.countNotUnder(targetKeyId);
  return { targetKeyId, rewrapped, skipped, failures, batches, stoppedEarly, remaining };
}
