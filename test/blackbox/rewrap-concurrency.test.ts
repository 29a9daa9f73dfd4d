import crypto from 'node:crypto';
import { ManualClock } from '../../src/clock';
import { rewrapAll } from '../../src/crypto/key-rotation';
import { Keyring, LocalMasterKey } from '../../src/crypto/keyring';
import { WrappedKeysRepository } from '../../src/db/wrapped-keys';
import { describeEachBackend } from '../helpers/backends';
import { storeRecordings } from '../helpers/recordings';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Rotation's writes are conditional on the row being unchanged since it was read, so that a
 * second rotation, or a destruction that removes the wrapped key, running at the same time is
 * never overwritten.
 */
describeEachBackend('re-wrapping is safe against concurrent changes', (backend) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startTestApp({ backend, workers: false });
  });
  afterEach(async () => t?.close());

  it('a row moved or shredded after it was read is left as it is', async () => {
    const [moved, shredded, plain] = await storeRecordings(t.app, 3);
    const repo = new WrappedKeysRepository(t.app.db);
    const oldKey = t.app.keyring.get(t.app.keyring.currentKeyId)!;
    const next = new LocalMasterKey('lk_20261201_00000001', crypto.randomBytes(32));
    const rows = await repo.pageNotUnder(next.id, null, 10);
    expect(rows).toHaveLength(3);
    // Meanwhile: another rotation moved one row, and a destruction removed another's wrapped key.
    await t.app.db.knex('recordings').where({ id: moved!.id }).update({ key_id: 'lk_20261201_00000002' });
    await t.app.db.knex('recordings').where({ id: shredded!.id }).update({ wrapped_key: null });

    const rewraps = rows.map((row) => ({ id: row.id, fromKeyId: row.keyId, toKeyId: next.id, wrappedKey: next.wrap(oldKey.unwrap(row.wrappedKey)) }));
    expect(await repo.apply(rewraps, new Date())).toBe(1);
    const after = async (id: string) => t.app.db.knex('recordings').where({ id }).first('key_id', 'wrapped_key');
    expect((await after(moved!.id)).key_id).toBe('lk_20261201_00000002');
    expect((await after(shredded!.id)).wrapped_key).toBeNull();
    expect((await after(plain!.id)).key_id).toBe(next.id);
  });

  it('two rotations to the same key at once re-wrap each recording once and lose nothing', async () => {
    await storeRecordings(t.app, 6);
    const oldKey = t.app.keyring.get(t.app.keyring.currentKeyId)!;
    const next = new LocalMasterKey('lk_20261201_00000003', crypto.randomBytes(32));
    const keyring = new Keyring([oldKey, next], next.id);
    const repo = new WrappedKeysRepository(t.app.db);
    const run = () => rewrapAll({ keyring, wrappedKeys: repo, clock: new ManualClock(), batchSize: 2 });
    const [a, b] = await Promise.all([run(), run()]);
    expect(a.rewrapped + b.rewrapped).toBe(6);
    expect(a.failures).toEqual([]);
    expect(b.failures).toEqual([]);
    expect(await repo.countNotUnder(next.id)).toBe(0);
    const rows = await t.app.db.knex('recordings').select('wrapped_key');
    for (const row of rows) expect(next.unwrap(t.app.db.codec.readBuffer(row.wrapped_key)!)).toHaveLength(32);
  });
});
