import crypto from 'node:crypto';
import { AppError } from '../../errors';

/**
 * Twilio's X-Twilio-Signature: Base64 HMAC-SHA1 (auth token) of the full URL Twilio called
 * followed by every POST parameter, sorted by name, as name+value (a repeated name contributes
 * each distinct value, sorted). Twilio may sign the URL with or without the default port, so,
 * like Twilio's own helper, both forms are tried. Comparison is constant-time.
 */

export type FormParams = ReadonlyMap<string, readonly string[]>;

export function parseForm(body: string): FormParams {
  const params = new Map<string, string[]>();
  for (const [name, value] of new URLSearchParams(body)) {
    const list = params.get(name);
    if (list) list.push(value);
    else params.set(name, [value]);
  }
  return params;
}

export function twilioSignature(authToken: string, url: string, params: FormParams): string {
  let data = url;
  for (const name of [...params.keys()].sort()) {
    const values = [...new Set(params.get(name)!)].sort();
    for (const value of values) data += name + value;
  }
  return crypto.createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}

/** The URL with the scheme's default port written out, and without any port. */
export function urlPortVariants(url: string): string[] {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/i.exec(url);
  if (!match) return [url];
  const [, scheme, authority, rest] = match as unknown as [string, string, string, string];
  const portStart = authority.indexOf(':', authority.lastIndexOf(']') + 1);
  const host = portStart === -1 ? authority : authority.slice(0, portStart);
  const withoutPort = `${scheme}${host}${rest}`;
  const defaultPort = scheme.toLowerCase() === 'https://' ? ':443' : ':80';
  const withPort = portStart === -1 ? `${scheme}${host}${defaultPort}${rest}` : url;
  return [...new Set([url, withoutPort, withPort])];
}

export function verifyTwilioSignature(authToken: string, header: string | undefined, url: string, params: FormParams): void {
  if (!header || header.trim() === '') throw new AppError('E_SIGNATURE_MISSING', 'the X-Twilio-Signature header is missing');
  const given = Buffer.from(header.trim(), 'utf8');
  let matched = false;
  for (const candidateUrl of urlPortVariants(url)) {
    const expected = Buffer.from(twilioSignature(authToken, candidateUrl, params), 'utf8');
    if (expected.length === given.length && crypto.timingSafeEqual(expected, given)) matched = true;
  }
  if (!matched) throw new AppError('E_SIGNATURE_INVALID', 'the Twilio signature does not match (check CALLVAULT_TWILIO_AUTH_TOKEN and CALLVAULT_PUBLIC_URL)');
}
