import type { NextFunction, Request, Response } from 'express';
import type { Authentication } from '../access/authentication';
import type { Principal } from '../access/principal';
import { AppError } from '../errors';

/**
 * The two things every API call carries: who (a bearer token from POST /api/auth/login) and,
 * on every read, why (X-Access-Reason). A read without a reason is refused before anything is
 * looked up, so no route can return recording data unexplained.
 */

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
    bearerToken?: string;
    accessReason?: string;
  }
}

export const REASON_HEADER = 'x-access-reason';

export function bearerAuth(authentication: Authentication) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    authentication.authenticate(match?.[1]).then(
      (principal) => {
        req.principal = principal;
        req.bearerToken = match![1];
        req.log = req.log.child({ user: principal.username });
        next();
      },
      next,
    );
  };
}

/** Every GET needs a stated reason: searches, metadata, audio, requests, the register, the audit trail. */
export function requireReasonOnReads() {
  return (req: Request, _res: Response, next: NextFunction): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    req.accessReason = reasonFrom(req.get(REASON_HEADER));
    next();
  };
}

/** The reason a client sent (percent-encoded when it is not plain ASCII), or E_REASON_REQUIRED. */
export function reasonFrom(raw: string | undefined): string {
  let text = raw ?? '';
  if (/%[0-9A-Fa-f]{2}/.test(text)) {
    try {
      text = decodeURIComponent(text);
    } catch {
      // not percent-encoding after all: keep it as sent
    }
  }
  text = text.trim();
  if (text.length < 5) throw new AppError('E_REASON_REQUIRED', 'state why: send the reason for this access in the X-Access-Reason header (at least 5 characters)');
  if (text.length > 500) throw new AppError('E_REASON_REQUIRED', 'X-Access-Reason: at most 500 characters');
  return text;
}

/** The signed-in person (set by bearerAuth). */
export function principalOf(req: Request): Principal {
  if (!req.principal) throw new AppError('E_AUTH_REQUIRED', 'sign in first');
  return req.principal;
}
