import type http from 'node:http';
import { buffer } from 'node:stream/consumers';
import { isBlockedAddress } from '../../src/fetch/address-guard';
import { safeFetch, type FetchOptions } from '../../src/fetch/safe-fetch';
import { startFakeServer, type FakeServer } from '../helpers/http-server';

describe('address guard', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['10.1.2.3', true],
    ['172.16.0.1', true],
    ['172.31.255.255', true],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['224.0.0.1', true],
    ['::1', true],
    ['::', true],
    ['fe80::1', true],
    ['fd00:ec2::254', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:7f00:1', true],
    ['::ffff:169.254.169.254', true],
    ['64:ff9b::a00:1', true],
    ['64:ff9b::127.0.0.1', true],
    ['64:ff9b:1::8.8.8.8', true],
    ['::7f00:1', true],
    ['::127.0.0.1', true],
    ['::a9fe:a9fe', true],
    ['0:0:0:0:0:ffff:7f00:1', true],
    ['0000:0000:0000:0000:0000:ffff:c0a8:0101', true],
    ['2002:7f00:1::', true],
    ['2002:c0a8:101::1', true],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', true],
    ['fec0::1', true],
    ['fe80::1%eth0', true],
    ['2002:808:808::1', false],
    ['64:ff9b::808:808', false],
    ['::808:808', false],
    ['8.8.8.8', false],
    ['172.32.0.1', false],
    ['2606:4700:4700::1111', false],
    ['::ffff:8.8.8.8', false],
  ])('%s blocked: %s', (address, blocked) => {
    expect(isBlockedAddress(address)).toBe(blocked);
  });
});

describe('safeFetch', () => {
  let target: FakeServer;
  let second: FakeServer;
  const base = (overrides: Partial<FetchOptions> = {}): FetchOptions => ({
    policy: { allowed: [], explicit: ['127.0.0.1'] },
    timeoutMs: 2000,
    maxBytes: 10_000,
    maxRedirects: 3,
    expect: 'audio',
    ...overrides,
  });

  beforeAll(async () => {
    target = await startFakeServer();
    second = await startFakeServer();
  });
  afterAll(async () => {
    await target.close();
    await second.close();
  });
  beforeEach(() => {
    target.requests.length = 0;
    second.requests.length = 0;
    const audio = (_req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(200, { 'content-type': 'audio/wav' }).end(Buffer.alloc(100, 1));
    target.handler = audio;
    second.handler = audio;
  });

  async function refusal(url: string, options: FetchOptions): Promise<string> {
    try {
      const response = await safeFetch(url, options);
      await buffer(response.body);
    } catch (error) {
      return (error as { code: string }).code;
    }
    return 'none';
  }

  it('fetches from an explicitly listed loopback host', async () => {
    const response = await safeFetch(`${target.url}/a.wav`, base());
    expect((await buffer(response.body)).length).toBe(100);
  });

  it.each([
    ['file:///etc/passwd', 'E_FETCH_PROTOCOL'],
    ['ftp://127.0.0.1/a.wav', 'E_FETCH_PROTOCOL'],
    ['gopher://127.0.0.1/', 'E_FETCH_PROTOCOL'],
    ['http://user:pw@127.0.0.1/a.wav', 'E_FETCH_PROTOCOL'],
    ['not a url', 'E_FETCH_PROTOCOL'],
    ['http://recordings.example.org/a.wav', 'E_FETCH_HOST_NOT_ALLOWED'],
  ])('%s is refused with %s', async (url, code) => {
    expect(await refusal(url, base())).toBe(code);
  });

  it('loopback that is not listed is refused before any connection', async () => {
    expect(await refusal(`${target.url}/a.wav`, base({ policy: { allowed: [], explicit: [] } }))).toBe('E_FETCH_HOST_NOT_ALLOWED');
    expect(target.requests).toHaveLength(0);
  });

  it('a provider host (allowed, not listed by the operator) that resolves to loopback is refused, and nothing is fetched', async () => {
    const url = target.url.replace('127.0.0.1', 'localhost');
    expect(await refusal(`${url}/a.wav`, base({ policy: { allowed: ['localhost'], explicit: [] } }))).toBe('E_FETCH_ADDRESS_BLOCKED');
    expect(target.requests).toHaveLength(0);
  });

  it('the cloud metadata address is refused even for an allowed host', async () => {
    expect(await refusal('http://169.254.169.254/latest/meta-data/', base({ policy: { allowed: ['169.254.169.254'], explicit: [] } }))).toBe('E_FETCH_ADDRESS_BLOCKED');
    expect(await refusal('http://[::ffff:127.0.0.1]/a.wav', base({ policy: { allowed: ['::ffff:7f00:1'], explicit: [] } }))).toBe('E_FETCH_ADDRESS_BLOCKED');
  });

  it('a redirect is checked again: to a host not on the list, or to one that resolves to a private address', async () => {
    target.handler = (_req, res) => res.writeHead(302, { location: 'http://192.168.10.20/a.wav' }).end();
    expect(await refusal(`${target.url}/r`, base())).toBe('E_FETCH_HOST_NOT_ALLOWED');
    target.handler = (_req, res) => res.writeHead(302, { location: `${second.url.replace('127.0.0.1', 'localhost')}/a.wav` }).end();
    expect(await refusal(`${target.url}/r`, base({ policy: { allowed: ['localhost'], explicit: ['127.0.0.1'] } }))).toBe('E_FETCH_ADDRESS_BLOCKED');
    expect(second.requests).toHaveLength(0);
  });

  it('provider credentials are not sent on to another origin by a redirect', async () => {
    target.handler = (_req, res) => res.writeHead(307, { location: `${second.url}/a.wav` }).end();
    const response = await safeFetch(`${target.url}/r`, base({ headers: { authorization: 'Basic c2VjcmV0' } }));
    await buffer(response.body);
    expect(target.requests[0]!.headers.authorization).toBe('Basic c2VjcmV0');
    expect(second.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('too many redirects', async () => {
    target.handler = (req, res) => res.writeHead(302, { location: `${target.url}${req.url}x` }).end();
    expect(await refusal(`${target.url}/r`, base())).toBe('E_FETCH_TOO_MANY_REDIRECTS');
  });

  it('content that is not audio, by its content type', async () => {
    target.handler = (_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<html/>');
    expect(await refusal(`${target.url}/a.wav`, base())).toBe('E_FETCH_CONTENT_TYPE');
  });

  it('a body over the size limit, announced or not', async () => {
    target.handler = (_req, res) => res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': '20000' }).end(Buffer.alloc(20000));
    expect(await refusal(`${target.url}/a.wav`, base())).toBe('E_AUDIO_TOO_LARGE');
    target.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'audio/wav' });
      res.write(Buffer.alloc(8000));
      res.end(Buffer.alloc(8000));
    };
    expect(await refusal(`${target.url}/a.wav`, base())).toBe('E_AUDIO_TOO_LARGE');
  });

  it('a body cut off before its announced length', async () => {
    target.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': '5000' });
      res.write(Buffer.alloc(1000));
      setTimeout(() => res.destroy(), 20);
    };
    expect(await refusal(`${target.url}/a.wav`, base())).toBe('E_FETCH_TRUNCATED');
  });

  it('a server that does not answer, and one that stops sending', async () => {
    target.handler = () => undefined;
    expect(await refusal(`${target.url}/a.wav`, base({ timeoutMs: 300 }))).toBe('E_FETCH_TIMEOUT');
    target.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': '5000' });
      res.write(Buffer.alloc(100));
    };
    expect(await refusal(`${target.url}/a.wav`, base({ timeoutMs: 300 }))).toMatch(/E_FETCH_TIMEOUT|E_FETCH_TRUNCATED/);
  });

  it('a server trickling bytes just inside the idle timeout is stopped at the overall deadline', async () => {
    let timer: NodeJS.Timeout | undefined;
    target.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': '5000' });
      timer = setInterval(() => res.write(Buffer.alloc(1)), 50);
      res.on('close', () => clearInterval(timer));
    };
    const started = Date.now();
    const error = await (async () => {
      const response = await safeFetch(`${target.url}/a.wav`, base({ timeoutMs: 1000, deadlineMs: 600 }));
      await buffer(response.body);
    })().catch((e: unknown) => e as { code: string; message: string });
    clearInterval(timer);
    expect(error).toMatchObject({ code: 'E_FETCH_TIMEOUT', message: expect.stringMatching(/took longer than 600 ms/) });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('a deadline that is not reached changes nothing', async () => {
    const response = await safeFetch(`${target.url}/a.wav`, base({ deadlineMs: 5000 }));
    expect((await buffer(response.body)).length).toBe(100);
  });

  it('303 See Other is followed with GET, whatever the first method; 307 keeps it', async () => {
    target.handler = (req, res) => res.writeHead(req.url === '/see-other' ? 303 : 307, { location: `${second.url}/result` }).end();
    second.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    await safeFetch(`${target.url}/see-other`, base({ method: 'DELETE', expect: 'json' })).then((r) => buffer(r.body));
    await safeFetch(`${target.url}/temporary`, base({ method: 'DELETE', expect: 'json' })).then((r) => buffer(r.body));
    expect(second.requests.map((r) => r.method)).toEqual(['GET', 'DELETE']);
  });

  it('maps provider statuses: 404 is final, 503 is worth retrying, 401 is not', async () => {
    for (const [status, code, retryable] of [
      [404, 'E_FETCH_NOT_FOUND', false],
      [503, 'E_FETCH_HTTP_STATUS', true],
      [401, 'E_FETCH_HTTP_STATUS', false],
      [429, 'E_FETCH_HTTP_STATUS', true],
    ] as Array<[number, string, boolean]>) {
      target.handler = (_req, res) => res.writeHead(status).end();
      const error = await safeFetch(`${target.url}/a.wav`, base()).catch((e: unknown) => e as { code: string; retryable: boolean });
      expect(error).toMatchObject({ code, retryable });
    }
  });
});
