import crypto from 'node:crypto';
import type http from 'node:http';
import { startFakeServer, type FakeServer } from './http-server';

/**
 * Plays Telnyx: an account ed25519 key pair (the public half goes into CALLVAULT_TELNYX_PUBLIC_KEY,
 * base64 of the raw 32 bytes, as the portal shows it), webhooks signed the way Telnyx signs them
 * (base64 ed25519 over `${timestamp}|${body}`), presigned S3-style recording links that can be
 * made to expire (403 AccessDenied, as S3 answers), and the v2 recordings API
 * (GET for fresh download links, DELETE), behind Bearer API-key auth.
 */

export const TELNYX_API_KEY = 'KEY0123456789TESTTELNYX';

export interface FakeTelnyx {
  readonly server: FakeServer;
  readonly url: string;
  readonly publicKeyBase64: string;
  readonly recordings: Map<string, Buffer>;
  readonly expired: Set<string>;
  readonly deleted: string[];
  deleteFailures: number;
  sign(body: string, timestamp?: number): { signature: string; timestamp: string };
  linkFor(recordingId: string): string;
  savedEvent(recordingId: string, overrides?: Record<string, unknown>): Record<string, unknown>;
  close(): Promise<void>;
}

export async function startFakeTelnyx(): Promise<FakeTelnyx> {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const publicKeyBase64 = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
  const recordings = new Map<string, Buffer>();
  const expired = new Set<string>();
  const deleted: string[] = [];
  const fake = { deleteFailures: 0 } as FakeTelnyx;

  const s3Denied = (res: http.ServerResponse): void => {
    res.writeHead(403, { 'content-type': 'application/xml' });
    res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
  };

  const server = await startFakeServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const link = /^\/telephony-recorder-prod\/([\w-]+)\.wav$/.exec(url.pathname);
    if (link && req.method === 'GET') {
      const id = link[1]!;
      if (expired.has(id) && url.searchParams.get('fresh') !== '1') return s3Denied(res);
      const audio = recordings.get(id);
      if (!audio) return s3Denied(res);
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': audio.length });
      res.end(audio);
      return;
    }
    const api = /^\/v2\/recordings\/([\w-]+)$/.exec(url.pathname);
    if (api) {
      if (req.headers.authorization !== `Bearer ${TELNYX_API_KEY}`) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"10009","title":"Authentication failed"}]}');
        return;
      }
      const id = api[1]!;
      if (req.method === 'DELETE') {
        if (fake.deleteFailures > 0) {
          fake.deleteFailures -= 1;
          res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":[{"code":"10007","title":"Unexpected error"}]}');
          return;
        }
        deleted.push(id);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: { id, record_type: 'recording' } }));
        return;
      }
      if (req.method === 'GET' && recordings.has(id)) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ data: { id, record_type: 'recording', download_urls: { wav: `${fake.url}/telephony-recorder-prod/${id}.wav?fresh=1` } } }));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"10005","title":"Resource not found"}]}');
      return;
    }
    res.writeHead(404).end();
  });

  Object.assign(fake, {
    server,
    url: server.url,
    publicKeyBase64,
    recordings,
    expired,
    deleted,
    sign(body: string, timestamp = Math.floor(Date.now() / 1000)) {
      const signature = crypto.sign(null, Buffer.from(`${timestamp}|${body}`), privateKey).toString('base64');
      return { signature, timestamp: String(timestamp) };
    },
    linkFor: (id: string) => `${server.url}/telephony-recorder-prod/${id}.wav?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=600&X-Amz-Signature=abc`,
    savedEvent(recordingId: string, overrides: Record<string, unknown> = {}) {
      return {
        data: {
          record_type: 'event',
          event_type: 'call.recording.saved',
          id: crypto.randomUUID(),
          occurred_at: '2026-11-20T09:19:45.000000Z',
          payload: {
            connection_id: '7267xxxxxxxxxxxxxx',
            call_leg_id: crypto.randomUUID(),
            call_session_id: crypto.randomUUID(),
            client_state: null,
            recording_id: recordingId,
            recording_started_at: '2026-11-20T09:14:03.000000Z',
            recording_ended_at: '2026-11-20T09:19:44.000000Z',
            channels: 'single',
            recording_urls: { mp3: fake.linkFor(recordingId).replace('.wav', '.mp3'), wav: fake.linkFor(recordingId) },
            public_recording_urls: {},
            ...overrides,
          },
        },
        meta: { attempt: 1, delivered_to: 'https://example/webhooks/telnyx' },
      };
    },
    close: () => server.close(),
  });
  return fake;
}

export async function postTelnyx(baseUrl: string, fake: FakeTelnyx, event: unknown, options: { query?: string; signature?: string | null; timestamp?: number; body?: string } = {}): Promise<Response> {
  const body = options.body ?? JSON.stringify(event);
  const signed = fake.sign(JSON.stringify(event), options.timestamp);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'telnyx-timestamp': signed.timestamp };
  const signature = options.signature === undefined ? signed.signature : options.signature;
  if (signature !== null) headers['telnyx-signature-ed25519'] = signature;
  return fetch(`${baseUrl}/webhooks/telnyx${options.query ? `?${options.query}` : ''}`, { method: 'POST', headers, body });
}
