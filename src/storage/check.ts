import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { toAppError } from '../errors';
import type { ObjectStore } from './object-store';

/**
 * `storage check`: writes a probe object, reads it back, deletes it, and says in plain words
 * which part is wrong when a step fails (endpoint, bucket, credentials or permissions).
 */

export interface CheckStep {
  readonly step: 'write' | 'read' | 'compare' | 'delete' | 'confirm-deleted';
  readonly ok: boolean;
  readonly ms: number;
  readonly problem?: string;
}

export interface CheckReport {
  readonly ok: boolean;
  readonly adapter: string;
  readonly steps: readonly CheckStep[];
  /** One sentence for the operator when something failed. */
  readonly advice?: string;
}

export interface CheckContext {
  /** Words for the target in messages, e.g. "bucket recordings at https://s3.example". */
  readonly target: string;
}

export async function checkStorage(store: ObjectStore, context: CheckContext): Promise<CheckReport> {
  const key = `healthcheck/${crypto.randomUUID()}.probe`;
  const payload = `callvault storage probe ${new Date().toISOString()}`;
  const steps: CheckStep[] = [];

  const run = async (step: CheckStep['step'], action: () => Promise<void>): Promise<boolean> => {
    const started = performance.now();
    try {
      await action();
      steps.push({ step, ok: true, ms: Math.round(performance.now() - started) });
      return true;
    } catch (error) {
      const appError = toAppError(error);
      steps.push({ step, ok: false, ms: Math.round(performance.now() - started), problem: `${appError.code}: ${appError.message}` });
      return false;
    }
  };

  let readBack = '';
  const wrote = await run('write', async () => {
    await store.put(key, Readable.from([Buffer.from(payload)]), { contentLength: Buffer.byteLength(payload) });
  });
  if (wrote) {
    const read = await run('read', async () => {
      readBack = await text(await store.get(key));
    });
    if (read) {
      await run('compare', async () => {
        if (readBack !== payload) throw new Error('the object read back differs from what was written (a proxy or checksum setting is altering bodies; try CALLVAULT_S3_CHECKSUM=when_required)');
      });
    }
    const deleted = await run('delete', async () => store.delete(key));
    if (deleted) {
      await run('confirm-deleted', async () => {
        if ((await store.head(key)) !== null) throw new Error('the probe object is still there after delete');
      });
    }
  }

  const ok = steps.every((step) => step.ok);
  return { ok, adapter: store.name, steps, advice: ok ? undefined : adviceFor(steps.find((s) => !s.ok)!, context) };
}

function adviceFor(step: CheckStep, context: CheckContext): string {
  const problem = step.problem ?? '';
  const action = { write: 'write to', read: 'read from', compare: 'read back from', delete: 'delete from', 'confirm-deleted': 'delete from' }[step.step];
  if (problem.startsWith('E_STORAGE_BUCKET')) return `The bucket does not exist: ${context.target}. Create it, or fix CALLVAULT_S3_BUCKET.`;
  if (problem.startsWith('E_STORAGE_CREDENTIALS')) return `The storage credentials are wrong: the server does not know the access key id, or the secret does not match. Check CALLVAULT_S3_ACCESS_KEY_ID and CALLVAULT_S3_SECRET_ACCESS_KEY.`;
  if (problem.startsWith('E_STORAGE_PERMISSION')) return `The credentials are valid but not allowed to ${action} ${context.target}. Grant s3:PutObject, s3:GetObject, s3:DeleteObject and s3:ListBucket (or, for the local folder, make it writable by the service user).`;
  if (problem.startsWith('E_STORAGE_UNAVAILABLE')) return `The storage endpoint cannot be reached or failed: ${context.target}. Check CALLVAULT_S3_ENDPOINT (or the folder), the network and that the server is running.`;
  return `Storage failed at the ${step.step} step: ${problem}`;
}
