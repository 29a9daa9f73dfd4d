import type { StoredRecordingRef } from '../db/integrity';
import { toAppError, type ErrorCode } from '../errors';
import type { RecordingVault } from '../vault/recording-vault';

/**
 * Decrypts stored recordings in full and compares each one's SHA-256 and size with the index,
 * a few at a time. A failure is sorted by what the operator must do about it:
 * - corrupt: the object is there but its bytes are not what was stored (restore it from a backup);
 * - missing: no object at its key (restore it, or find who deleted it);
 * - unreadable: this node lacks the master key, or the wrapped key is damaged (fix the key folder);
 * - error: storage failed while reading; nothing is known about the recording (run again).
 */

export type ProblemKind = 'corrupt' | 'missing' | 'unreadable' | 'error';

export interface RecordingProblem {
  readonly recordingId: string;
  readonly storageKey: string;
  readonly kind: ProblemKind;
  readonly code: string;
  readonly message: string;
}

export interface RecordingCheckResult {
  readonly checked: number;
  readonly ok: number;
  readonly bytes: number;
  readonly problems: readonly RecordingProblem[];
}

const KIND_OF: Partial<Record<ErrorCode, ProblemKind>> = {
  E_CRYPTO_AUTH: 'corrupt',
  E_CRYPTO_FORMAT: 'corrupt',
  E_INTEGRITY: 'corrupt',
  E_STORAGE_NOT_FOUND: 'missing',
  E_KEY_NOT_FOUND: 'unreadable',
  E_KEY_PRIVATE_MISSING: 'unreadable',
  E_KEY_UNWRAP: 'unreadable',
};

export function problemKindOf(code: string): ProblemKind {
  return KIND_OF[code as ErrorCode] ?? 'error';
}

export async function checkRecordings(
  refs: AsyncIterable<StoredRecordingRef> | Iterable<StoredRecordingRef>,
  vault: Pick<RecordingVault, 'verify'>,
  options: {
    concurrency: number;
    onChecked?: (ref: StoredRecordingRef) => void;
    /**
     * Asked before a problem is reported: a recording destroyed on schedule while the check ran
     * (its object deleted a moment after it was listed) is not a problem, and is left out.
     */
    stillStored?: (ref: StoredRecordingRef) => Promise<boolean>;
  },
): Promise<RecordingCheckResult> {
  const problems: RecordingProblem[] = [];
  let checked = 0;
  let bytes = 0;
  const iterator = (Symbol.asyncIterator in refs ? refs[Symbol.asyncIterator]() : toAsync(refs as Iterable<StoredRecordingRef>)) as AsyncIterator<StoredRecordingRef>;
  // Each worker pulls the next reference; async generators serialise concurrent next() calls.
  const worker = async (): Promise<void> => {
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      const ref = next.value;
      try {
        await vault.verify(ref);
        bytes += ref.plaintextSize;
      } catch (error) {
        const appError = toAppError(error);
        if (options.stillStored && !(await options.stillStored(ref))) {
          options.onChecked?.(ref);
          continue;
        }
        problems.push({ recordingId: ref.id, storageKey: ref.storageKey, kind: problemKindOf(appError.code), code: appError.code, message: appError.message });
      }
      checked += 1;
      options.onChecked?.(ref);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  problems.sort((a, b) => a.kind.localeCompare(b.kind) || a.recordingId.localeCompare(b.recordingId));
  return { checked, ok: checked - problems.length, bytes, problems };
}

async function* toAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}
