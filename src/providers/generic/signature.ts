import crypto from 'node:crypto';
import { AppError } from '../../errors';

/**
 * X-Callvault-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + rawBody)>.
 * Several v1 values may be sent (while a secret is being changed); one matching is enough. The
 * timestamp must be within the window either side of now, so a captured request cannot be
 * replayed later. Comparison is constant-time.
 */

export const SIGNATURE_HEADER = 'x-callvault-signature';
export const SIGNATURE_WINDOW_SECONDS = 300;

export interface ParsedSignature {
  readonly timestamp: number;
  readonly signatures: readonly Buffer[];
}

export function parseSignatureHeader(header: string | undefined): ParsedSignature {
  if (!header || header.trim() === '') throw new AppError('E_SIGNATURE_MISSING', `the ${SIGNATURE_HEADER} header is missing`);
  let timestamp: number | null = null;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const [name, value] = part.split('=', 2).map((piece) => piece?.trim() ?? '');
    if (name === 't' && /^\d{1,12}$/.test(value ?? '')) timestamp = Number(value);
    if (name === 'v1' && /^[0-9a-f]{64}$/i.test(value ?? '')) signatures.push(Buffer.from(value!, 'hex'));
  }
  if (timestamp === null || signatures.length === 0) {
    throw new AppError('E_SIGNATURE_INVALID', `the ${SIGNATURE_HEADER} header must look like t=<unix seconds>,v1=<64 hex digits>`);
  }
  return { timestamp, signatures };
}

export function checkSignatureTime(parsed: ParsedSignature, now: Date, windowSeconds = SIGNATURE_WINDOW_SECONDS): void {
  const skew = Math.abs(now.getTime() / 1000 - parsed.timestamp);
  if (skew > windowSeconds) {
    throw new AppError('E_SIGNATURE_EXPIRED', `the signature timestamp is ${Math.round(skew)} s from now; at most ${windowSeconds} s is accepted`);
  }
}

/** An HMAC that is fed the raw body as it streams by; `matches` compares in constant time. */
export class GenericSignatureCheck {
  private readonly hmac: crypto.Hmac;

  constructor(
    secret: string,
    private readonly parsed: ParsedSignature,
  ) {
    this.hmac = crypto.createHmac('sha256', secret).update(`${parsed.timestamp}.`);
  }

  update(chunk: Buffer): void {
    this.hmac.update(chunk);
  }

  verify(): void {
    const expected = this.hmac.digest();
    let matched = false;
    for (const candidate of this.parsed.signatures) {
      // Evaluate every candidate: no early exit that would tell an attacker which one was close.
      if (candidate.length === expected.length && crypto.timingSafeEqual(candidate, expected)) matched = true;
    }
    if (!matched) throw new AppError('E_SIGNATURE_INVALID', 'the webhook signature does not match the body');
  }
}

/** Signs a body the way senders must; for tests, scripts and the PBX examples in the README. */
export function signGenericBody(secret: string, body: Buffer | string, timestamp: number): string {
  const mac = crypto.createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}
