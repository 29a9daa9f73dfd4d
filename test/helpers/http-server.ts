import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server on 127.0.0.1 playing a phone provider (or a PBX): tests give it a handler
 * speaking the provider's wire format and read back what it was asked.
 */

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

export interface FakeServer {
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  handler: http.RequestListener;
  close(): Promise<void>;
}

export async function startFakeServer(handler: http.RequestListener = (_req, res) => res.writeHead(404).end()): Promise<FakeServer> {
  const fake: FakeServer = {
    url: '',
    port: 0,
    requests: [],
    handler,
    close: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    fake.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    fake.handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  Object.assign(fake, {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return fake;
}
