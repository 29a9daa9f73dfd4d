import crypto from 'node:crypto';
import { signGenericBody } from '../../src/providers/generic/signature';
import { twilioSignature, parseForm } from '../../src/providers/twilio/signature';
import { GENERIC_SECRET, TWILIO_AUTH_TOKEN, TWILIO_ACCOUNT_SID } from './test-app';

/**
 * Clients that call the webhooks the way the phone systems do. Signatures are made here with
 * an independent implementation (plain node:crypto), not with the server's own verifier.
 */

export function genericSignature(body: Buffer | string, timestamp = Math.floor(Date.now() / 1000), secret = GENERIC_SECRET): string {
  const mac = crypto.createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

export interface GenericEventInput {
  recordingId?: string;
  [field: string]: unknown;
}

export function genericEvent(overrides: GenericEventInput = {}): Record<string, unknown> {
  const recordingId = overrides.recordingId ?? `r-${crypto.randomUUID()}`;
  return {
    eventId: `e-${recordingId}`,
    callId: `c-${recordingId}`,
    recordingId,
    direction: 'inbound',
    from: '07700 900123',
    to: '+441632960001',
    extension: '201',
    line: 'main',
    team: 'care-coordination',
    staff: ['jsmith'],
    parties: [{ name: 'Jane Patient', role: 'caller' }],
    startedAt: '2026-11-20T09:14:03Z',
    endedAt: '2026-11-20T09:19:44Z',
    durationSec: 341,
    consent: 'recorded',
    category: 'general',
    ...overrides,
  };
}

export async function postGeneric(
  baseUrl: string,
  event: unknown,
  options: { signature?: string | null; timestamp?: number; body?: string; contentType?: string } = {},
): Promise<Response> {
  const body = options.body ?? JSON.stringify(event);
  const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/json' };
  const signature = options.signature === undefined ? genericSignature(body, options.timestamp) : options.signature;
  if (signature !== null) headers['x-callvault-signature'] = signature;
  return fetch(`${baseUrl}/webhooks/generic`, { method: 'POST', headers, body });
}

/** A multipart body built by hand, so the bytes signed are exactly the bytes sent. */
export function multipartBody(parts: Array<{ name: string; value: Buffer | string; filename?: string; type?: string }>): { body: Buffer; contentType: string } {
  const boundary = `----callvault${crypto.randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename ? `; filename="${part.filename}"` : ''}`;
    const type = part.type ? `\r\nContent-Type: ${part.type}` : '';
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}${type}\r\n\r\n`));
    chunks.push(Buffer.isBuffer(part.value) ? part.value : Buffer.from(part.value));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

export async function postGenericMultipart(
  baseUrl: string,
  event: unknown,
  audio: Buffer | null,
  options: { signature?: string | null; timestamp?: number; tamper?: (body: Buffer) => Buffer; audioFirst?: boolean } = {},
): Promise<Response> {
  const eventPart = { name: 'event', value: typeof event === 'string' ? event : JSON.stringify(event) };
  const audioPart = audio ? [{ name: 'audio', value: audio, filename: 'call.wav', type: 'audio/wav' }] : [];
  const { body, contentType } = multipartBody(options.audioFirst ? [...audioPart, eventPart] : [eventPart, ...audioPart]);
  const signature = options.signature === undefined ? genericSignature(body, options.timestamp) : options.signature;
  const sent = options.tamper ? options.tamper(body) : body;
  const headers: Record<string, string> = { 'content-type': contentType };
  if (signature !== null) headers['x-callvault-signature'] = signature;
  return fetch(`${baseUrl}/webhooks/generic`, { method: 'POST', headers, body: sent });
}

export function twilioCallback(overrides: Record<string, string> = {}): Record<string, string> {
  const recordingSid = `RE${crypto.randomBytes(16).toString('hex')}`;
  return {
    AccountSid: TWILIO_ACCOUNT_SID,
    CallSid: `CA${crypto.randomBytes(16).toString('hex')}`,
    RecordingSid: recordingSid,
    RecordingUrl: `https://api.twilio.com/2010-04-01/Accounts/${TWILIO_ACCOUNT_SID}/Recordings/${recordingSid}`,
    RecordingStatus: 'completed',
    RecordingDuration: '12',
    RecordingChannels: '1',
    RecordingStartTime: 'Fri, 20 Nov 2026 09:14:03 +0000',
    RecordingSource: 'RecordVerb',
    ...overrides,
  };
}

/** Signs like Twilio: HMAC-SHA1 over the URL and the sorted parameters (independent code). */
export function twilioSign(url: string, params: Record<string, string>, token = TWILIO_AUTH_TOKEN): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + params[key], url);
  return crypto.createHmac('sha1', token).update(Buffer.from(data, 'utf8')).digest('base64');
}

export async function postTwilio(baseUrl: string, params: Record<string, string>, options: { query?: string; signature?: string | null; signedUrl?: string } = {}): Promise<Response> {
  const path = `/webhooks/twilio${options.query ? `?${options.query}` : ''}`;
  const body = new URLSearchParams(params).toString();
  const signature = options.signature === undefined ? twilioSign(options.signedUrl ?? `${baseUrl}${path}`, params) : options.signature;
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (signature !== null) headers['x-twilio-signature'] = signature;
  return fetch(`${baseUrl}${path}`, { method: 'POST', headers, body });
}

// Re-exported for tests that cross-check the server's own signing helpers.
export { signGenericBody, twilioSignature, parseForm };
