import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { AppError } from '../errors';
import { guardedLookup, isBlockedAddress, isHostAllowed, isHostExplicit, normaliseHost, type HostPolicy } from './address-guard';

/**
 * The only way callvault fetches anything from a URL a webhook gave it. It follows SPEC 2's
 * SSRF rules: http(s) only, allowed hosts only, no private or metadata addresses unless the
 * operator listed the host, every redirect checked again (and credentials dropped when it leaves
 * the original origin), connect and idle timeouts, a size limit, and a content-type check.
 * The body is returned as a stream; a body that ends before its announced length errors with
 * E_FETCH_TRUNCATED instead of ending quietly.
 */

export type Expect = 'audio' | 'json' | 'any';

export interface FetchOptions {
  readonly policy: HostPolicy;
  readonly method?: 'GET' | 'DELETE';
  readonly headers?: Record<string, string>;
  readonly timeoutMs: number;
  /** The whole exchange, body included: a server trickling a byte just inside the idle timeout cannot hold a worker for ever. */
  readonly deadlineMs?: number;
  readonly maxBytes: number;
  readonly maxRedirects: number;
  readonly expect: Expect;
  readonly signal?: AbortSignal;
}

export interface FetchResponse {
  readonly status: number;
  readonly url: string;
  readonly contentType: string | null;
  readonly contentLength: number | null;
  readonly body: Readable;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const AUDIO_TYPES = /^(audio\/[a-z0-9.+-]+|application\/octet-stream|binary\/octet-stream|application\/ogg|video\/ogg)$/;
const keepAliveHttp = new http.Agent({ keepAlive: true, maxSockets: 64 });
const keepAliveHttps = new https.Agent({ keepAlive: true, maxSockets: 64 });

export async function safeFetch(url: string, options: FetchOptions): Promise<FetchResponse> {
  if (!options.deadlineMs) return exchange(url, options);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new AppError('E_FETCH_TIMEOUT', `the download from ${describe(url)} took longer than ${options.deadlineMs} ms`)), options.deadlineMs);
  timer.unref();
  const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
  try {
    const response = await exchange(url, { ...options, signal });
    response.body.once('close', () => clearTimeout(timer));
    return response;
  } catch (error) {
    clearTimeout(timer);
    throw deadline.signal.aborted ? deadline.signal.reason : error;
  }
}

async function exchange(url: string, options: FetchOptions): Promise<FetchResponse> {
  let current = parseUrl(url);
  const origin = current.origin;
  let headers = { ...(options.headers ?? {}) };
  let method = options.method ?? 'GET';
  for (let hop = 0; ; hop += 1) {
    checkTarget(current, options.policy);
    const response = await request(current, method, headers, options);
    const status = response.statusCode ?? 0;
    if (REDIRECTS.has(status) && response.headers.location) {
      response.resume();
      if (hop >= options.maxRedirects) throw new AppError('E_FETCH_TOO_MANY_REDIRECTS', `more than ${options.maxRedirects} redirects from ${describe(url)}`);
      current = parseUrl(new URL(response.headers.location, current).toString());
      // Provider credentials go to the provider only, never to wherever it redirects.
      if (current.origin !== origin) headers = withoutCredentials(headers);
      // 303 See Other means "GET the result over there" (RFC 9110 15.4.4), whatever was asked.
      if (status === 303) method = 'GET';
      continue;
    }
    return finish(response, current, options);
  }
}

function parseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AppError('E_FETCH_PROTOCOL', 'the audio URL is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AppError('E_FETCH_PROTOCOL', `only http and https URLs are fetched, not ${url.protocol.replace(':', '')}`);
  }
  if (url.username || url.password) throw new AppError('E_FETCH_PROTOCOL', 'URLs with embedded credentials are not fetched');
  return url;
}

function checkTarget(url: URL, policy: HostPolicy): void {
  const host = normaliseHost(url.hostname);
  if (!isHostAllowed(policy, host)) {
    throw new AppError('E_FETCH_HOST_NOT_ALLOWED', `host ${host} is not on the allowed list for this source (add it to CALLVAULT_FETCH_ALLOW_HOSTS if it is yours)`);
  }
  // An IP literal never goes through DNS lookup, so check it here.
  if (net.isIP(host) && !isHostExplicit(policy, host) && isBlockedAddress(host)) {
    throw new AppError('E_FETCH_ADDRESS_BLOCKED', `${host} is a loopback, private, link-local or metadata address; list it in CALLVAULT_FETCH_ALLOW_HOSTS to allow it`);
  }
}

function request(url: URL, method: 'GET' | 'DELETE', headers: Record<string, string>, options: FetchOptions): Promise<http.IncomingMessage> {
  const explicit = isHostExplicit(options.policy, url.hostname);
  const isHttps = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (isHttps ? https : http).request(
      url,
      {
        method,
        headers: { 'user-agent': 'callvault', ...headers },
        agent: isHttps ? keepAliveHttps : keepAliveHttp,
        lookup: guardedLookup(explicit) as unknown as net.LookupFunction,
        signal: options.signal,
        timeout: options.timeoutMs,
      },
      resolve,
    );
    req.on('timeout', () => req.destroy(new AppError('E_FETCH_TIMEOUT', `no answer from ${url.host} within ${options.timeoutMs} ms`)));
    req.on('error', (error) => reject(translateNetworkError(error, url)));
    req.end();
  });
}

function finish(response: http.IncomingMessage, url: URL, options: FetchOptions): FetchResponse {
  const status = response.statusCode ?? 0;
  if (status < 200 || status > 299) {
    response.resume();
    throw statusError(status, url);
  }
  const contentType = (response.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() || null;
  if (options.expect === 'audio' && contentType !== null && !AUDIO_TYPES.test(contentType)) {
    response.resume();
    throw new AppError('E_FETCH_CONTENT_TYPE', `the provider answered with ${contentType.slice(0, 60)}, not audio`);
  }
  if (options.expect === 'json' && contentType !== null && !/^application\/([a-z.+-]*\+)?json$/.test(contentType)) {
    response.resume();
    throw new AppError('E_FETCH_CONTENT_TYPE', `expected JSON from ${url.host}, got ${contentType.slice(0, 60)}`);
  }
  const lengthHeader = response.headers['content-length'];
  const contentLength = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : null;
  if (contentLength !== null && contentLength > options.maxBytes) {
    response.destroy();
    throw new AppError('E_AUDIO_TOO_LARGE', `the provider announces ${contentLength} bytes, over the limit of ${options.maxBytes}`);
  }
  // Idle timeout while reading the body, too.
  response.setTimeout(options.timeoutMs, () => response.destroy(new AppError('E_FETCH_TIMEOUT', `${url.host} stopped sending for ${options.timeoutMs} ms`)));
  const guard = new BodyGuard(contentLength, options.maxBytes, url);
  response.on('error', (error) => guard.destroy(translateNetworkError(error, url, true)));
  response.on('aborted', () => guard.destroy(new AppError('E_FETCH_TRUNCATED', `the download from ${url.host} was cut off`)));
  response.pipe(guard);
  // The caller's signal (the download deadline, a lost lease, shutdown) ends the body with its reason.
  const onAbort = (): void => {
    const reason: unknown = options.signal?.reason;
    guard.destroy(reason instanceof AppError ? reason : new AppError('E_FETCH_TIMEOUT', `the download from ${url.host} was stopped`));
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  guard.once('close', () => options.signal?.removeEventListener('abort', onAbort));
  // If the consumer stops early or the guard fails, release the connection instead of leaving it open.
  guard.once('close', () => {
    if (!response.complete) response.destroy();
  });
  return { status, url: url.toString(), contentType, contentLength, body: guard };
}

/** Counts bytes: errors past the size limit, and when the body ends short of Content-Length. */
class BodyGuard extends Transform {
  private received = 0;

  constructor(
    private readonly expected: number | null,
    private readonly maxBytes: number,
    private readonly url: URL,
  ) {
    super({ highWaterMark: 256 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    if (this.received > this.maxBytes) {
      callback(new AppError('E_AUDIO_TOO_LARGE', `the download is larger than the limit of ${this.maxBytes} bytes`));
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.expected !== null && this.received < this.expected) {
      callback(new AppError('E_FETCH_TRUNCATED', `the download from ${this.url.host} ended after ${this.received} of ${this.expected} bytes`));
      return;
    }
    callback();
  }
}

function statusError(status: number, url: URL): AppError {
  if (status === 404 || status === 410) {
    return new AppError('E_FETCH_NOT_FOUND', `${url.host} answered ${status}: the recording is not there (deleted, or the link expired)`, { details: { status } });
  }
  // 408 and 429 are "later, please"; 5xx is the provider's trouble. Other 4xx will not change by retrying.
  const retryable = status === 408 || status === 429 || status >= 500;
  return new AppError('E_FETCH_HTTP_STATUS', `${url.host} answered ${status}`, { retryable, details: { status } });
}

function translateNetworkError(error: unknown, url: URL, duringBody = false): AppError {
  if (error instanceof AppError) return error;
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof AppError) return cause;
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (duringBody || code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE') {
    if (duringBody) return new AppError('E_FETCH_TRUNCATED', `the download from ${url.host} was cut off (${code || 'closed'})`, { cause: error });
  }
  if ((error as Error).name === 'AbortError') return new AppError('E_FETCH_TIMEOUT', `the request to ${url.host} was aborted`, { cause: error });
  return new AppError('E_FETCH_NETWORK', `cannot reach ${url.host} (${code || (error as Error).message})`, { cause: error });
}

function withoutCredentials(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!/^(authorization|cookie|x-api-key)$/i.test(name)) out[name] = value;
  }
  return out;
}

function describe(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the URL';
  }
}
