import crypto from 'node:crypto';
import { AppError } from '../../errors';

/**
 * Telnyx signs each webhook with its account's ed25519 key: `telnyx-signature-ed25519` is the
 * base64 signature of `${telnyx-timestamp}|${raw body}`; the timestamp must be within 300 s.
 * The public key comes from the Telnyx portal (base64 of the 32-byte key).
 */

export const TELNYX_WINDOW_SECONDS = 300;

export function telnyxPublicKey(base64: string): crypto.KeyObject {
  const raw = Buffer.from(base64, 'base64');
  return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

export function verifyTelnyxSignature(publicKey: crypto.KeyObject, signature: string | undefined, timestamp: string | undefined, body: Buffer, now: Date): void {
  if (!signature || !timestamp) throw new AppError('E_SIGNATURE_MISSING', 'the telnyx-signature-ed25519 and telnyx-timestamp headers are required');
  if (!/^\d{1,12}$/.test(timestamp.trim())) throw new AppError('E_SIGNATURE_INVALID', 'telnyx-timestamp is not a unix time');
  const skew = Math.abs(now.getTime() / 1000 - Number(timestamp));
  if (skew > TELNYX_WINDOW_SECONDS) {
    throw new AppError('E_SIGNATURE_EXPIRED', `the Telnyx timestamp is ${Math.round(skew)} s from now; at most ${TELNYX_WINDOW_SECONDS} s is accepted`);
  }
  const signatureBytes = Buffer.from(signature.trim(), 'base64');
  const signed = Buffer.concat([Buffer.from(`${timestamp.trim()}|`, 'utf8'), body]);
  // ed25519 verification has no secret-dependent early exit; a wrong length is refused before it.
  if (signatureBytes.length !== 64 || !crypto.verify(null, signed, publicKey, signatureBytes)) {
    throw new AppError('E_SIGNATURE_INVALID', 'the Telnyx signature does not match the body (check CALLVAULT_TELNYX_PUBLIC_KEY)');
  }
}
