import type { Readable, Writable } from 'node:stream';

/**
 * Remembers an error the body stream emits of its own accord, so put() can rethrow it unchanged
 * (a failed download is the caller's problem, not storage's). When `sink` fails first, the
 * pipeline then destroys the body with the sink's error; that one is storage's and is not kept.
 */
export function watchSourceError(body: Readable, sink?: Writable): { value: unknown } {
  const seen: { value: unknown } = { value: undefined };
  let sinkFailed = false;
  sink?.once('error', () => {
    sinkFailed = true;
  });
  body.once('error', (error) => {
    if (!sinkFailed) seen.value ??= error;
  });
  return seen;
}
