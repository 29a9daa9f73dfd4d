import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { VARIABLES, type Config } from '../../config';
import type { Clock } from '../clock';
import { loadKeyring } from '../crypto/key-files';
import { openDatabase } from '../db/database';
import { RecordingsRepository } from '../db/recordings';
import { toAppError } from '../errors';
import { createSilentLogger } from '../log/logger';
import { checkStorage } from '../storage/check';
import type { ObjectStore } from '../storage/object-store';

/**
 * `callvault config check`: everything that would stop callvault, or make it unsafe, found in one
 * run instead of one per restart. It only reads, except for the probe object the storage check
 * writes and deletes and a probe file in the data folder; it never generates a key and never
 * creates the database.
 */

export type Level = 'ok' | 'warning' | 'problem';
export type Area = 'data' | 'keys' | 'secrets' | 'storage' | 'database' | 'webhooks';

export interface Finding {
  readonly area: Area;
  readonly level: Level;
  readonly message: string;
}

export interface CheckDeps {
  readonly config: Config;
  readonly env: NodeJS.ProcessEnv;
  readonly clock: Clock;
  /** Builds the storage to probe (the local adapter creates its folder, which may fail). */
  readonly openStore: () => ObjectStore;
  readonly storageTarget: string;
}

export async function checkInstallation(deps: CheckDeps): Promise<Finding[]> {
  const findings: Finding[] = [];
  const add = (area: Area, level: Level, message: string): void => {
    findings.push({ area, level, message });
  };
  checkDataFolder(deps.config, add);
  const keyIds = checkKeyFolder(deps, add);
  checkSecretFiles(deps, add);
  await checkStorageReachable(deps, add);
  await checkDatabase(deps, keyIds, add);
  checkWebhooks(deps.config, add);
  return findings;
}

type Add = (area: Area, level: Level, message: string) => void;

function checkDataFolder(config: Config, add: Add): void {
  const dir = config.dataDir;
  if (!fs.existsSync(dir)) {
    const parent = nearestExisting(dir);
    if (isWritable(parent)) add('data', 'ok', `data folder ${dir} does not exist yet; callvault creates it on first start (mode 0700)`);
    else add('data', 'problem', `data folder ${dir} does not exist and cannot be created: ${parent} is not writable by this user`);
    return;
  }
  if (!fs.statSync(dir).isDirectory()) {
    add('data', 'problem', `data folder ${dir} is not a folder`);
    return;
  }
  const probe = path.join(dir, `.config-check-${crypto.randomBytes(4).toString('hex')}`);
  try {
    fs.writeFileSync(probe, 'probe', { mode: 0o600 });
    fs.rmSync(probe);
    add('data', 'ok', `data folder ${dir} is writable`);
  } catch (error) {
    add('data', 'problem', `data folder ${dir} is not writable by this user (${(error as NodeJS.ErrnoException).code ?? 'error'}): the index, spool and local objects live there`);
  }
  const mode = fs.statSync(dir).mode & 0o777;
  if ((mode & 0o077) !== 0) add('data', 'warning', `data folder ${dir} has mode ${mode.toString(8)}; other users can look inside (chmod 700 ${dir})`);
}

/** Returns the ids of the keys in the folder (to compare with what the index uses). */
function checkKeyFolder(deps: CheckDeps, add: Add): Set<string> | null {
  const { config } = deps;
  const dir = config.keys.dir;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      add('keys', 'problem', `key folder ${dir} cannot be read (${(error as NodeJS.ErrnoException).code})`);
      return null;
    }
    names = [];
  }
  const secretFiles = names.filter((name) => name.endsWith('.key.json') || name.endsWith('.private.pem'));
  let loose = 0;
  for (const name of secretFiles) loose += checkPrivateFile(path.join(dir, name), 'key file', add, 'keys') ? 0 : 1;
  if (names.length > 0) {
    const mode = fs.statSync(dir).mode & 0o777;
    if ((mode & 0o077) !== 0) add('keys', 'warning', `key folder ${dir} has mode ${mode.toString(8)}; make it 0700 (chmod 700 ${dir})`);
  }
  if (!names.some((name) => name.endsWith('.key.json') || name.endsWith('.public.pem'))) {
    if (config.keys.kek === 'local' && config.keys.autoGenerate) {
      add('keys', 'warning', `no master key in ${dir} yet: callvault generates one on first start; back the folder up (and escrow it with "callvault keys export") right after`);
    } else {
      add('keys', 'problem', `no master key in ${dir}: run "callvault keys generate${config.keys.kek === 'rsa' ? ' --kind rsa' : ''}", or restore one with "callvault keys import"`);
    }
    return new Set();
  }
  // A loose key file already makes loading fail with the same complaint; say it once.
  if (loose > 0) return null;
  try {
    const keyring = loadKeyring({ dir, kind: config.keys.kek, autoGenerate: false, clock: deps.clock, logger: createSilentLogger() });
    const current = keyring.get(keyring.currentKeyId)!;
    add('keys', 'ok', `master keys load: ${keyring.status().length} in ${dir}, current ${current.id} (${current.kind})`);
    if (!current.canUnwrap) add('keys', 'warning', `this node holds only the public part of ${current.id}: it can store recordings but never decrypt one (intended for ingest-only nodes)`);
    return new Set(keyring.status().map((key) => key.id));
  } catch (error) {
    add('keys', 'problem', toAppError(error).message);
    return null;
  }
}

function checkSecretFiles(deps: CheckDeps, add: Add): void {
  for (const spec of VARIABLES.filter((variable) => variable.secret)) {
    const file = deps.env[`${spec.env}_FILE`];
    if (file && fs.existsSync(file)) checkPrivateFile(path.resolve(file), `${spec.env}_FILE`, add, 'secrets', 'warning');
  }
  const twilioKeys = deps.config.providers.twilio.encryptionKeysDir;
  if (twilioKeys) {
    if (!fs.existsSync(twilioKeys)) add('secrets', 'problem', `CALLVAULT_TWILIO_ENCRYPTION_KEYS_DIR ${twilioKeys} does not exist`);
    else for (const name of fs.readdirSync(twilioKeys).filter((n) => n.endsWith('.pem'))) checkPrivateFile(path.join(twilioKeys, name), 'Twilio decryption key', add, 'secrets');
  }
}

/** True when only the owner can read the file. */
function checkPrivateFile(file: string, what: string, add: Add, area: Area, level: Level = 'problem'): boolean {
  const stat = fs.statSync(file);
  const mode = stat.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    add(area, level, `${what} ${file} has mode ${mode.toString(8)}: others can read it; it must be readable by its owner only (chmod 600 ${file})`);
    return false;
  }
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) {
    add(area, 'warning', `${what} ${file} belongs to another user (uid ${stat.uid}); callvault may not be able to read it`);
  }
  return true;
}

async function checkStorageReachable(deps: CheckDeps, add: Add): Promise<void> {
  let store: ObjectStore;
  try {
    store = deps.openStore();
  } catch (error) {
    add('storage', 'problem', `storage (${deps.storageTarget}) cannot be opened: ${toAppError(error).message}`);
    return;
  }
  try {
    const report = await checkStorage(store, { target: deps.storageTarget });
    if (report.ok) add('storage', 'ok', `storage (${report.adapter}, ${deps.storageTarget}) accepts, returns and deletes a probe object`);
    else add('storage', 'problem', `storage (${report.adapter}): ${report.advice}`);
  } finally {
    await store.close().catch(() => undefined);
  }
}

async function checkDatabase(deps: CheckDeps, keyIds: Set<string> | null, add: Add): Promise<void> {
  const { config } = deps;
  const url = config.databaseUrl;
  if (url.startsWith('sqlite:') && url !== 'sqlite::memory:' && !fs.existsSync(url.slice('sqlite:'.length))) {
    add('database', 'ok', `the SQLite index ${url.slice('sqlite:'.length)} does not exist yet; "callvault migrate" or the first start creates it`);
    return;
  }
  const quiet = (): void => undefined;
  const db = openDatabase({ url, sqliteSynchronous: config.sqliteSynchronous, poolMax: 1, log: { warn: quiet, error: quiet, debug: quiet, deprecate: quiet } });
  try {
    await withTimeout(db.ping(), 5000);
    const pending = await db.pendingMigrations();
    if (pending.length === 0) add('database', 'ok', `the index database answers and its schema is up to date (${db.dialect})`);
    else if (config.autoMigrate) add('database', 'warning', `the index database needs migrations (${pending.join(', ')}); serve applies them at start`);
    else add('database', 'problem', `the index database needs migrations (${pending.join(', ')}) and CALLVAULT_AUTO_MIGRATE is off: run "callvault migrate"`);
    if (keyIds && pending.length === 0) {
      for (const [keyId, count] of await new RecordingsRepository(db).countByKeyId()) {
        if (!keyIds.has(keyId)) add('keys', 'problem', `${count} recording(s) are wrapped under master key ${keyId}, which is not in ${config.keys.dir}: restore it ("callvault keys import")`);
      }
    }
  } catch (error) {
    add('database', 'problem', `the index database cannot be reached: ${describeDatabaseError(error)}`);
  } finally {
    await db.close().catch(() => undefined);
  }
}

function checkWebhooks(config: Config, add: Add): void {
  const { providers } = config;
  const configured = [
    providers.generic.secret ? 'generic' : null,
    providers.twilio.authToken ? 'twilio' : null,
    providers.telnyx.publicKey ? 'telnyx' : null,
    providers.vonage.signatureSecret ? 'vonage' : null,
  ].filter((name): name is string => name !== null);
  if (configured.length === 0) add('webhooks', 'warning', 'no webhook source is configured (CALLVAULT_GENERIC_SECRET, CALLVAULT_TWILIO_AUTH_TOKEN, ...): every webhook will be refused');
  else add('webhooks', 'ok', `webhook sources configured: ${configured.join(', ')}`);
  const publicUrl = new URL(config.publicUrl);
  if (publicUrl.protocol === 'http:' && !['localhost', '127.0.0.1', '[::1]'].includes(publicUrl.hostname) && !config.trustProxy) {
    add('webhooks', 'warning', `CALLVAULT_PUBLIC_URL ${config.publicUrl} is plain http: recordings' metadata would cross the network unencrypted; put callvault behind TLS`);
  }
}

function describeDatabaseError(error: unknown): string {
  const err = error as { code?: string; message?: string };
  const message = (err.message ?? String(error)).replace(/\/\/[^@/]*@/g, '//***@');
  return err.code ? `${err.code}: ${message}` : message;
}

function nearestExisting(dir: string): string {
  let current = path.dirname(dir);
  while (!fs.existsSync(current) && path.dirname(current) !== current) current = path.dirname(current);
  return current;
}

function isWritable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
