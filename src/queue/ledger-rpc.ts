import type { MessagePort } from 'node:worker_threads';
import type { NewRecording } from '../db/recordings';
import { AppError, ERROR_CODES, toAppError, type ErrorCode } from '../errors';
import type { JobLedger } from './ledger';

/**
 * The ledger across a thread boundary: an ingest thread calls RemoteLedger, the HTTP thread
 * answers with its DatabaseLedger (serveLedger). Arguments and results travel by structured
 * clone (Dates survive; Buffers arrive as Uint8Array and are turned back into Buffers); errors
 * keep their code, so E_JOB_LEASE_LOST means the same on both sides.
 */

type Method = keyof JobLedger;

interface Request {
  readonly id: number;
  readonly method: Method;
  readonly args: unknown[];
}

type Response = { readonly id: number; readonly result: unknown } | { readonly id: number; readonly error: { code: string; message: string; retryable: boolean } };

const METHODS: readonly Method[] = ['claimNext', 'renewLease', 'fail', 'complete', 'succeed', 'clearAbandoned', 'expiredUploads', 'reclaimForUpload'];

export function serveLedger(port: MessagePort, ledger: JobLedger): void {
  port.on('message', (request: Request) => {
    if (!METHODS.includes(request.method)) {
      port.postMessage({ id: request.id, error: { code: 'E_INTERNAL', message: `unknown ledger method ${String(request.method)}`, retryable: false } } satisfies Response);
      return;
    }
    const args = request.method === 'complete' ? reviveRecordingArgs(request.args) : request.args;
    (ledger[request.method] as (...a: unknown[]) => Promise<unknown>)
      .apply(ledger, args)
      .then(
        (result) => port.postMessage({ id: request.id, result } satisfies Response),
        (thrown: unknown) => {
          const error = toAppError(thrown);
          port.postMessage({ id: request.id, error: { code: error.code, message: error.message, retryable: error.retryable } } satisfies Response);
        },
      );
  });
}

function reviveRecordingArgs(args: unknown[]): unknown[] {
  const [id, owner, recording, now, followUp] = args as [string, string, NewRecording, Date, unknown];
  return [id, owner, { ...recording, wrappedKey: recording.wrappedKey ? Buffer.from(recording.wrappedKey) : null }, now, followUp];
}

export class RemoteLedger implements JobLedger {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();

  constructor(private readonly port: MessagePort) {
    port.on('message', (response: Response) => {
      const pending = this.waiting.get(response.id);
      if (!pending) return;
      this.waiting.delete(response.id);
      if ('error' in response) {
        const code = (response.error.code in ERROR_CODES ? response.error.code : 'E_INTERNAL') as ErrorCode;
        pending.reject(new AppError(code, response.error.message, { retryable: response.error.retryable }));
      } else {
        pending.resolve(response.result);
      }
    });
  }

  private call<T>(method: Method, args: unknown[]): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.next++;
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.port.postMessage({ id, method, args } satisfies Request);
    });
  }

  claimNext(...args: Parameters<JobLedger['claimNext']>): ReturnType<JobLedger['claimNext']> {
    return this.call('claimNext', args);
  }

  renewLease(...args: Parameters<JobLedger['renewLease']>): ReturnType<JobLedger['renewLease']> {
    return this.call('renewLease', args);
  }

  fail(...args: Parameters<JobLedger['fail']>): ReturnType<JobLedger['fail']> {
    return this.call('fail', args);
  }

  complete(...args: Parameters<JobLedger['complete']>): ReturnType<JobLedger['complete']> {
    return this.call('complete', args);
  }

  succeed(...args: Parameters<JobLedger['succeed']>): ReturnType<JobLedger['succeed']> {
    return this.call('succeed', args);
  }

  clearAbandoned(...args: Parameters<JobLedger['clearAbandoned']>): ReturnType<JobLedger['clearAbandoned']> {
    return this.call('clearAbandoned', args);
  }

  expiredUploads(...args: Parameters<JobLedger['expiredUploads']>): ReturnType<JobLedger['expiredUploads']> {
    return this.call('expiredUploads', args);
  }

  reclaimForUpload(...args: Parameters<JobLedger['reclaimForUpload']>): ReturnType<JobLedger['reclaimForUpload']> {
    return this.call('reclaimForUpload', args);
  }
}
