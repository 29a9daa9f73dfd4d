import crypto from 'node:crypto';
import { SignJWT, errors as joseErrors, importPKCS8, jwtVerify, type KeyLike } from 'jose';
import { AppError } from '../../errors';

/**
 * Vonage signed webhooks: `Authorization: Bearer <JWT>`, HS256 with the account's signature
 * secret, whose `payload_hash` claim is the SHA-256 (hex) of the raw body and whose `iat` must be
 * fresh. Only HS256 is accepted (no algorithm chosen by the token). The recording is then fetched
 * with an RS256 JWT signed by the application's private key. jose does the JWT parsing and
 * signature checks: hand-written JWT code is where algorithm-confusion bugs live.
 */

export const VONAGE_WINDOW_SECONDS = 300;

export async function verifyVonageWebhook(secret: string, authorization: string | undefined, body: Buffer, now: Date): Promise<void> {
  const token = /^Bearer\s+(\S+)$/i.exec(authorization?.trim() ?? '')?.[1];
  if (!token) throw new AppError('E_SIGNATURE_MISSING', 'the Authorization: Bearer <JWT> header is missing');
  let claims: Record<string, unknown>;
  try {
    ({ payload: claims } = await jwtVerify(token, new TextEncoder().encode(secret), { algorithms: ['HS256'], currentDate: now, clockTolerance: VONAGE_WINDOW_SECONDS }));
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw new AppError('E_SIGNATURE_EXPIRED', 'the Vonage JWT has expired');
    throw new AppError('E_SIGNATURE_INVALID', 'the Vonage JWT is not signed with CALLVAULT_VONAGE_SIGNATURE_SECRET (or is malformed)', { cause: error });
  }
  const iat = claims.iat;
  if (typeof iat !== 'number' || Math.abs(now.getTime() / 1000 - iat) > VONAGE_WINDOW_SECONDS) {
    throw new AppError('E_SIGNATURE_EXPIRED', `the Vonage JWT was issued more than ${VONAGE_WINDOW_SECONDS} s from now (a replay or a wrong clock)`);
  }
  const expected = crypto.createHash('sha256').update(body).digest('hex');
  const given = typeof claims.payload_hash === 'string' ? claims.payload_hash.toLowerCase() : '';
  if (given.length !== expected.length || !crypto.timingSafeEqual(Buffer.from(given), Buffer.from(expected))) {
    throw new AppError('E_SIGNATURE_INVALID', 'the body does not match the payload_hash in the Vonage JWT (changed after signing)');
  }
}

let cachedKey: { pem: string; key: KeyLike } | null = null;

/** A short-lived RS256 JWT for Vonage's API, as its server SDKs make them. */
export async function vonageApiToken(applicationId: string, privateKeyPem: string, now: Date): Promise<string> {
  if (cachedKey?.pem !== privateKeyPem) {
    const pkcs8 = crypto.createPrivateKey(privateKeyPem).export({ type: 'pkcs8', format: 'pem' }) as string;
    cachedKey = { pem: privateKeyPem, key: await importPKCS8(pkcs8, 'RS256') };
  }
  const issued = Math.floor(now.getTime() / 1000);
  return new SignJWT({ application_id: applicationId })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuedAt(issued)
    .setExpirationTime(issued + 300)
    .setJti(crypto.randomUUID())
    .sign(cachedKey.key);
}
