import type { Readable } from 'node:stream';

/** Remembers an error the body stream emits, so put() can rethrow it unchanged. */
export function watchSourceError(body: Readable): { value: unknown } {
  const seen: { value: unknown } = { value: undefined };
  body.once('error', (error) => {
    seen.value ??= error;
  });
  return seen;
}
