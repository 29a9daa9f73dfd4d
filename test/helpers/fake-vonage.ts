import crypto from 'node:crypto';
import { startFakeServer, type FakeServer } from './http-server';

/**
 * Plays Vonage: an application key pair and id, a signature secret, record events signed the
 * way Vonage signs webhooks (an HS256 JWT whose payload_hash is the SHA-256 of the body; built
 * here with plain node:crypto, independently of the server's JWT library), and the media API
 * (/v1/files/<uuid>) that only answers a valid RS256 JWT of this application.
 */

export const VONAGE_SIGNATURE_SECRET = 'vonage-signature-secret-0123456789abcdef';
export const VONAGE_APPLICATION_ID = 'aaaaaaaa-bbbb-cccc-dddd-0123456789ab';

const b64url = (value: Buffer | string): string => Buffer.from(value).toString('base64url');

export function hs256Jwt(claims: Record<string, unknown>, secret = VONAGE_SIGNATURE_SECRET, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string {
  const head = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${head}.${crypto.createHmac('sha256', secret).update(head).digest('base64url')}`;
}

export function vonageWebhookToken(body: string, options: { iat?: number; secret?: string; payloadHash?: string } = {}): string {
  return hs256Jwt(
    {
      iat: options.iat ?? Math.floor(Date.now() / 1000),
      jti: crypto.randomUUID(),
      iss: 'Vonage',
      payload_hash: options.payloadHash ?? crypto.createHash('sha256').update(body).digest('hex'),
      api_key: 'abcd1234',
      application_id: VONAGE_APPLICATION_ID,
    },
    options.secret,
  );
}

export interface FakeVonage {
  readonly server: FakeServer;
  readonly url: string;
  readonly privateKeyPem: string;
  readonly files: Map<string, Buffer>;
  readonly unauthorised: number;
  recordEvent(uuid: string): Record<string, unknown>;
  close(): Promise<void>;
}

function verifyRs256(token: string, publicKey: crypto.KeyObject): Record<string, unknown> | null {
  const [head, body, signature] = token.split('.');
  if (!head || !body || !signature) return null;
  const header = JSON.parse(Buffer.from(head, 'base64url').toString()) as { alg?: string };
  if (header.alg !== 'RS256') return null;
  const ok = crypto.verify('sha256', Buffer.from(`${head}.${body}`), publicKey, Buffer.from(signature, 'base64url'));
  return ok ? (JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>) : null;
}

export async function startFakeVonage(): Promise<FakeVonage> {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const files = new Map<string, Buffer>();
  const state = { unauthorised: 0 };
  const server = await startFakeServer((req, res) => {
    const match = /^\/v1\/files\/([\w-]+)$/.exec(req.url ?? '');
    if (!match || req.method !== 'GET') return void res.writeHead(404).end();
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const claims = token ? verifyRs256(token, publicKey) : null;
    const now = Math.floor(Date.now() / 1000);
    if (!claims || claims.application_id !== VONAGE_APPLICATION_ID || typeof claims.exp !== 'number' || claims.exp < now) {
      state.unauthorised += 1;
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"type":"https://developer.nexmo.com/api-errors#unauthorized","title":"Unauthorized"}');
      return;
    }
    const audio = files.get(match[1]!);
    if (!audio) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"title":"Not found"}');
    res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': audio.length }).end(audio);
  });
  return {
    server,
    url: server.url,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    files,
    get unauthorised() {
      return state.unauthorised;
    },
    recordEvent(uuid: string) {
      return {
        start_time: '2026-11-20T09:14:03Z',
        recording_url: `${server.url}/v1/files/${uuid}`,
        size: files.get(uuid)?.length ?? 0,
        recording_uuid: uuid,
        end_time: '2026-11-20T09:19:44Z',
        conversation_uuid: `CON-${crypto.randomUUID()}`,
        timestamp: '2026-11-20T09:19:45.000Z',
      };
    },
    close: () => server.close(),
  };
}

export async function postVonage(baseUrl: string, event: unknown, options: { token?: string | null; body?: string; query?: string } = {}): Promise<Response> {
  const body = options.body ?? JSON.stringify(event);
  const token = options.token === undefined ? vonageWebhookToken(JSON.stringify(event)) : options.token;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return fetch(`${baseUrl}/webhooks/vonage${options.query ? `?${options.query}` : ''}`, { method: 'POST', headers, body });
}
