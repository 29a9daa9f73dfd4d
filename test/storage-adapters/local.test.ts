import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { LocalAdapter } from '../../storage-adapters/local';
import { StorageAdapterError, type StorageAdapter } from '../../storage-adapters/types';
import { tempDir } from '../helpers/temp';
import { runAdapterConformance } from './conformance';

const folders = new Map<StorageAdapter, () => void>();

runAdapterConformance({
  name: 'local',
  async create() {
    const { dir, cleanup } = tempDir('callvault-local');
    const adapter = new LocalAdapter({ root: path.join(dir, 'objects') });
    folders.set(adapter, cleanup);
    return adapter;
  },
  async destroy(adapter) {
    await adapter.close();
    folders.get(adapter)?.();
    folders.delete(adapter);
  },
});

describe('local adapter specifics', () => {
  let dir: string;
  let cleanup: () => void;
  let root: string;

  beforeEach(() => {
    ({ dir, cleanup } = tempDir('callvault-local'));
    root = path.join(dir, 'objects');
  });
  afterEach(() => cleanup());

  it('writes nothing outside its folder whatever the key', async () => {
    const adapter = new LocalAdapter({ root });
    for (const key of ['../outside.bin', '../../outside.bin', 'a/../../outside.bin', '.incoming/x.part']) {
      await expect(adapter.put(key, Readable.from([Buffer.from('x')]))).rejects.toMatchObject({ kind: 'invalid-key' });
    }
    expect(fs.readdirSync(dir)).toEqual(['objects']);
  });

  it('creates objects readable by the owner only', async () => {
    const adapter = new LocalAdapter({ root });
    await adapter.put('recordings/ab/x.cv', Readable.from([Buffer.from('x')]));
    expect(fs.statSync(path.join(root, 'recordings/ab/x.cv')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(root, 'recordings/ab')).mode & 0o777).toBe(0o700);
  });

  it('removes temporary files a crash left behind, but not ones still being written', () => {
    fs.mkdirSync(path.join(root, '.incoming'), { recursive: true });
    const stale = path.join(root, '.incoming', 'stale.part');
    const deadWriter = path.join(root, '.incoming', '999999999-dead.part');
    const liveWriter = path.join(root, '.incoming', `${process.ppid}-live.part`);
    const fresh = path.join(root, '.incoming', 'fresh.part');
    for (const file of [stale, deadWriter, liveWriter, fresh]) fs.writeFileSync(file, 'x');
    const old = new Date(Date.now() - 48 * 3600 * 1000);
    fs.utimesSync(stale, old, old);
    new LocalAdapter({ root });
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.existsSync(deadWriter)).toBe(false);
    expect(fs.existsSync(liveWriter)).toBe(true);
    expect(fs.existsSync(fresh)).toBe(true);
  });

  it('does not list its temporary folder', async () => {
    const adapter = new LocalAdapter({ root });
    fs.writeFileSync(path.join(root, '.incoming', 'partial.part'), 'x');
    const keys: string[] = [];
    for await (const item of adapter.list('')) keys.push(item.key);
    expect(keys).toEqual([]);
  });

  it('reports a folder it cannot write to as a permission problem', async () => {
    if (process.getuid?.() === 0) {
      // root ignores file modes; use a read-only bind instead: a path under a file cannot be created.
      const adapter = new LocalAdapter({ root });
      fs.writeFileSync(path.join(root, 'blocker'), 'x');
      const error = await adapter.put('blocker/child.bin', Readable.from([Buffer.from('x')])).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageAdapterError);
      expect(['permission', 'unknown', 'unavailable']).toContain((error as StorageAdapterError).kind);
      return;
    }
    const adapter = new LocalAdapter({ root });
    fs.chmodSync(path.join(root, '.incoming'), 0o500);
    const error = await adapter.put('x/y.bin', Readable.from([Buffer.from('x')])).catch((e: unknown) => e);
    expect((error as StorageAdapterError).kind).toBe('permission');
  });

  it('a write that fails at the folder is a storage error, not mistaken for a failure of the body', async () => {
    const adapter = new LocalAdapter({ root });
    // The temporary folder replaced by a file: opening the temporary file fails (ENOTDIR).
    fs.rmSync(path.join(root, '.incoming'), { recursive: true });
    fs.writeFileSync(path.join(root, '.incoming'), 'x');
    const body = Readable.from([Buffer.alloc(1024, 1)]);
    const error = await adapter.put('x/y.bin', body).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageAdapterError);
    expect(body.destroyed).toBe(true);
  });
});
