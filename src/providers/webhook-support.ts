import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../errors';

/**
 * What every provider's webhook route shares: run the handler, answer 202 with its result, and
 * report refusals (for metrics) before passing errors to the one error handler.
 */
export function respond(source: string, onRefused: ((source: string, code: string) => void) | undefined, handle: () => Promise<unknown>) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    handle().then(
      (result) => res.status(202).json(result),
      (error: unknown) => {
        if (error instanceof AppError && error.status < 500) onRefused?.(source, error.code);
        next(error);
      },
    );
  };
}

export const CALLBACK_QUERY_FIELDS = ['line', 'team', 'category'] as const;
export type CallbackQuery = Record<(typeof CALLBACK_QUERY_FIELDS)[number], string | null>;

/**
 * line, team and category from the query string of the URL configured at the provider
 * (e.g. /webhooks/twilio?line=bypass&category=admin): providers that know nothing about a
 * practice's lines and retention categories carry them this way.
 */
export function callbackQuery(req: Request): CallbackQuery {
  const url = new URL(req.originalUrl, 'http://placeholder');
  const out: CallbackQuery = { line: null, team: null, category: null };
  for (const name of CALLBACK_QUERY_FIELDS) {
    const value = url.searchParams.get(name)?.trim();
    if (!value) continue;
    if (value.length > 64) throw new AppError('E_VALIDATION', `${name}: at most 64 characters`);
    out[name] = value;
  }
  return out;
}

export function rawBody(req: Request): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}
