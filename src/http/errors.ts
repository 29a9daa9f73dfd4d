import type { NextFunction, Request, Response } from 'express';
import { AppError, toAppError } from '../errors';

/**
 * Every error leaves as `{code, message}` with the status its code maps to. Unexpected errors
 * are logged in full (with the request id) and answered with a generic message, never a stack.
 */
const RETRY_AFTER_SECONDS = 5;

export function errorHandler() {
  return (thrown: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const error = fromBodyParser(thrown) ?? toAppError(thrown);
    const log = req.log;
    if (error.code === 'E_INTERNAL' || error.status >= 500) {
      log?.error(error.message, { event: 'http.error', code: error.code, status: error.status, stack: thrown instanceof Error ? thrown.stack : undefined });
    } else {
      log?.info('request refused', { event: 'http.refused', code: error.code, status: error.status, reason: error.message });
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // A 503 is a passing condition (busy, database briefly unreachable): say when to come back.
    if (error.status === 503) res.set('Retry-After', String(RETRY_AFTER_SECONDS));
    const message = error.code === 'E_INTERNAL' ? `unexpected error; quote request id ${req.id} when reporting it` : error.message;
    res.status(error.status).json({ code: error.code, message });
  };
}

/** body-parser's own errors (size limit, malformed body) as AppErrors. */
function fromBodyParser(thrown: unknown): AppError | null {
  const error = thrown as { type?: string; limit?: number; status?: number };
  switch (error?.type) {
    case 'entity.too.large':
      return new AppError('E_PAYLOAD_TOO_LARGE', `the body is larger than the limit of ${error.limit} bytes`);
    case 'request.aborted':
      return new AppError('E_BAD_REQUEST', 'the request was aborted by the client');
    case 'entity.parse.failed':
      return new AppError('E_BAD_REQUEST', 'the body is not valid JSON');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError('E_UNSUPPORTED_MEDIA_TYPE', 'unsupported body encoding');
    default:
      return null;
  }
}

export function notFound() {
  return (req: Request, _res: Response, next: NextFunction): void => {
    next(new AppError('E_NOT_FOUND', `no route ${req.method} ${req.path}`));
  };
}
