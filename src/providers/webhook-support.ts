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

/** A JSON webhook body, parsed; not JSON is E_BAD_REQUEST, and so is a NUL character anywhere in it. */
export function parseJsonBody(body: Buffer): unknown {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new AppError('E_BAD_REQUEST', 'the body is not valid JSON');
  }
  refuseNulCharacters(json);
  return json;
}

/**
 * Refuses a NUL character in any text of a delivery: no phone system sends one, PostgreSQL
 * cannot store one, and a name cut short at it would not be found by a search.
 */
export function refuseNulCharacters(value: unknown, where = '(body)'): void {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) throw new AppError('E_BAD_REQUEST', `${where}: contains a NUL character`);
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => refuseNulCharacters(item, `${where === '(body)' ? '' : `${where}.`}${index}`));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const path = where === '(body)' ? key : `${where}.${key}`;
      if (key.includes('\u0000')) throw new AppError('E_BAD_REQUEST', `${where}: a field name contains a NUL character`);
      refuseNulCharacters(item, path);
    }
  }
}
