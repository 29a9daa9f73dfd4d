import type { Response } from 'express';
import type { Delivery } from '../export/audio-delivery';

/**
 * Sends a Delivery as the response body, with backpressure. Nothing is sent until the first byte
 * exists, so a conversion that fails at once is still answered with `{code, message}`; a failure
 * later can only cut the connection. Once the body has ended or the client has gone, the
 * delivery is settled with whether it was complete (an export enters the release register).
 */
export async function deliver(res: Response, delivery: Delivery, head: { status: number; headers: Record<string, string> }): Promise<void> {
  let complete = false;
  try {
    for await (const chunk of delivery.body) {
      if (!res.headersSent) {
        res.status(head.status);
        for (const [name, value] of Object.entries(head.headers)) res.setHeader(name, value);
      }
      if (!(await write(res, chunk))) break;
    }
    if (!res.destroyed) {
      if (!res.headersSent) {
        res.status(head.status);
        for (const [name, value] of Object.entries(head.headers)) res.setHeader(name, value);
      }
      complete = await new Promise<boolean>((resolve) => {
        res.once('finish', () => resolve(true));
        res.once('close', () => resolve(res.writableFinished));
        res.end();
      });
    }
  } catch (error) {
    if (!res.headersSent) throw error;
    res.destroy();
  } finally {
    delivery.body.destroy();
    if (res.headersSent || complete) {
      await delivery.settle(complete).catch((error: unknown) => res.req.log?.error('the release could not be recorded', { event: 'release.record_failed', error }));
    }
  }
}

/** Writes with backpressure; false once the client has gone (no 'drain' will ever come). */
export async function write(res: Response, chunk: Buffer | string): Promise<boolean> {
  if (res.destroyed) return false;
  if (!res.write(chunk)) {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  }
  return !res.destroyed;
}
