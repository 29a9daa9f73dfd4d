import crypto from 'node:crypto';
import { ACCESS_ENV, addUser, call, login } from '../helpers/access';
import { startTestApp, type TestApp } from '../helpers/test-app';

/** /api/openapi.json describes the API that runs: every operation answers, and no route is left out. */

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
}

describe('OpenAPI document', () => {
  let t: TestApp;
  let doc: { openapi: string; paths: Record<string, Record<string, { security?: unknown[] }>>; components: Record<string, unknown> };

  beforeAll(async () => {
    t = await startTestApp({ workers: false, env: ACCESS_ENV });
    await addUser(t.app, 'dpo1', 'dpo');
    const response = await fetch(`${t.url}/api/openapi.json`);
    expect(response.status).toBe(200);
    doc = (await response.json()) as typeof doc;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is OpenAPI 3.1 with bearer security, the reason header and the error schema', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components).toMatchObject({ securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, parameters: { AccessReason: { name: 'X-Access-Reason', in: 'header', required: true } }, schemas: { Error: { required: ['code', 'message'] } } });
  });

  it('lists exactly the routes the API router serves', () => {
    const layers = (t.app.http as unknown as { router: { stack: Layer[] } }).router.stack;
    const api = layers.find((layer) => layer.handle.stack?.some((inner) => inner.route?.path === '/auth/login'))!;
    const served = api.handle.stack!.filter((layer) => layer.route).flatMap((layer) => Object.keys(layer.route!.methods).map((method) => `${method.toUpperCase()} ${layer.route!.path.replace(/:(\w+)/g, '{$1}')}`));
    const described = Object.entries(doc.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`));
    expect(served.sort()).toEqual(described.sort());
  });

  it('every described operation answers at its path (never the router\'s 404), and every secured one refuses a request without a token', async () => {
    const token = await login(t.url, 'dpo1');
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const concrete = path.replace('{id}', crypto.randomUUID());
        const response = await call(t.url, method.toUpperCase(), concrete, { token, body: method === 'get' ? undefined : {} });
        const body = response.headers.get('content-type')?.includes('json') ? ((await response.json()) as { code?: string }) : {};
        expect({ operation: `${method} ${path}`, code: body.code }).not.toEqual({ operation: `${method} ${path}`, code: 'E_NOT_FOUND' });
        if (operation.security) {
          const anonymous = await call(t.url, method.toUpperCase(), concrete, { body: method === 'get' ? undefined : {} });
          expect({ operation: `${method} ${path}`, status: anonymous.status }).toEqual({ operation: `${method} ${path}`, status: 401 });
        }
      }
    }
  });
});
