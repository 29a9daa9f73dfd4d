import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Clock } from '../clock';
import { AppError } from '../errors';
import type { Logger } from '../log/logger';
import { Keyring, LocalMasterKey, RsaMasterKey, type KeySource, type MasterKey, type MasterKeyKind } from './keyring';

/**
 * The key folder:
 *   <id>.key.json      a local master key: {"id","kind":"local","createdAt","key":"<base64>"}, mode 0600
 *   <id>.public.pem    an RSA public key (SPKI PEM)
 *   <id>.private.pem   its private key (PKCS#8 PEM), mode 0600; absent on ingest-only nodes
 *   current            the id of the key that wraps new data keys
 * Key files readable by group or others are refused: a master key that others can read protects
 * nothing.
 */

const KEY_ID = /^(lk|rk)_\d{8}_[0-9a-f]{8}$/;
const LOCAL_SUFFIX = '.key.json';
const PUBLIC_SUFFIX = '.public.pem';
const PRIVATE_SUFFIX = '.private.pem';
const CURRENT_FILE = 'current';

export interface KeyFolderOptions {
  readonly dir: string;
  readonly kind: MasterKeyKind;
  readonly autoGenerate: boolean;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** Whether `id` is a well-formed key id (of that kind, when given). */
export function isKeyId(id: string, kind?: MasterKeyKind): boolean {
  return KEY_ID.test(id) && (kind === undefined || id.startsWith(kind === 'local' ? 'lk_' : 'rk_'));
}

export function newKeyId(kind: MasterKeyKind, now: Date): string {
  const day = now.toISOString().slice(0, 10).replace(/-/g, '');
  return `${kind === 'local' ? 'lk' : 'rk'}_${day}_${crypto.randomBytes(4).toString('hex')}`;
}

/** Loads every key in the folder; generates a local key on first start when allowed. */
export function loadKeyring(options: KeyFolderOptions): Keyring {
  const { dir, kind, logger } = options;
  let keys = readKeyFolder(dir);
  if (keys.length === 0) {
    if (kind === 'local' && options.autoGenerate) {
      const key = generateLocalKey(dir, options.clock);
      setCurrentKey(dir, key.id);
      logger.warn('master key generated: back up this key folder now; without it no recording can ever be decrypted', {
        event: 'keys.generated',
        keyId: key.id,
        keyFolder: dir,
      });
      keys = [key];
    } else if (kind === 'rsa') {
      throw new AppError('E_KEY_FILE', `no RSA key in ${dir}: run "callvault keys generate --kind rsa" on a trusted machine and copy the .public.pem file here`);
    } else {
      throw new AppError('E_KEY_FILE', `no master key in ${dir}: run "callvault keys generate" (or set CALLVAULT_KEYS_AUTO_GENERATE=true)`);
    }
  }
  const currentId = readCurrentKeyId(dir, keys);
  assertCurrentKind(keys, currentId, kind);
  return new Keyring(keys, currentId, keyFolderSource(options, currentId));
}

function assertCurrentKind(keys: readonly MasterKey[], currentId: string, kind: MasterKeyKind): void {
  const current = keys.find((key) => key.id === currentId)!;
  if (current.kind !== kind) {
    throw new AppError('E_KEY_FILE', `the current key ${currentId} is a ${current.kind} key but CALLVAULT_KEK=${kind}; generate a ${kind} key or change CALLVAULT_KEK`);
  }
}

/**
 * Re-reads the key folder for a running keyring. A folder that is mid-change or broken keeps
 * the keys already loaded (logged, never thrown into a webhook or an export).
 */
function keyFolderSource(options: KeyFolderOptions, initialCurrent: string): KeySource {
  const { dir, kind, logger } = options;
  let current = initialCurrent;
  return () => {
    try {
      const keys = readKeyFolder(dir);
      const currentId = readCurrentKeyId(dir, keys);
      assertCurrentKind(keys, currentId, kind);
      if (currentId !== current) {
        logger.info('master key changed: new recordings are wrapped under it', { event: 'keys.current_changed', keyId: currentId, previousKeyId: current });
        current = currentId;
      }
      return { keys, currentId };
    } catch (error) {
      logger.warn('the key folder could not be re-read; keeping the keys already loaded', { event: 'keys.refresh_failed', code: (error as AppError).code, reason: (error as Error).message });
      return null;
    }
  };
}

export function readKeyFolder(dir: string): MasterKey[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new AppError('E_KEY_FILE', `cannot read key folder ${dir}: ${(error as NodeJS.ErrnoException).code}`, { cause: error });
  }
  const keys: MasterKey[] = [];
  for (const name of names.sort()) {
    const file = path.join(dir, name);
    if (name.endsWith(LOCAL_SUFFIX)) {
      keys.push(readLocalKey(file, name.slice(0, -LOCAL_SUFFIX.length)));
    } else if (name.endsWith(PUBLIC_SUFFIX)) {
      const id = name.slice(0, -PUBLIC_SUFFIX.length);
      const privateFile = path.join(dir, `${id}${PRIVATE_SUFFIX}`);
      keys.push(readRsaKey(file, fs.existsSync(privateFile) ? privateFile : null, id));
    }
  }
  return keys;
}

function readLocalKey(file: string, id: string): LocalMasterKey {
  assertKeyId(id, file);
  assertPrivateMode(file);
  let parsed: { id?: unknown; kind?: unknown; createdAt?: unknown; key?: unknown };
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new AppError('E_KEY_FILE', `key file ${file} is not valid JSON`, { cause });
  }
  if (parsed.id !== id || parsed.kind !== 'local' || typeof parsed.key !== 'string') {
    throw new AppError('E_KEY_FILE', `key file ${file} is malformed (id, kind or key missing or not matching its name)`);
  }
  const secret = Buffer.from(parsed.key, 'base64');
  const createdAt = typeof parsed.createdAt === 'string' ? new Date(parsed.createdAt) : null;
  return new LocalMasterKey(id, secret, createdAt);
}

function readRsaKey(publicFile: string, privateFile: string | null, id: string): RsaMasterKey {
  assertKeyId(id, publicFile);
  let publicKey: crypto.KeyObject;
  let privateKey: crypto.KeyObject | null = null;
  try {
    publicKey = crypto.createPublicKey(fs.readFileSync(publicFile));
  } catch (cause) {
    throw new AppError('E_KEY_FILE', `${publicFile} is not a PEM public key`, { cause });
  }
  if (privateFile) {
    assertPrivateMode(privateFile);
    try {
      privateKey = crypto.createPrivateKey(fs.readFileSync(privateFile));
    } catch (cause) {
      throw new AppError('E_KEY_FILE', `${privateFile} is not a PEM private key`, { cause });
    }
    const derived = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
    if (!derived.equals(publicKey.export({ type: 'spki', format: 'der' }))) {
      throw new AppError('E_KEY_FILE', `${privateFile} does not belong to ${publicFile}`);
    }
  }
  if (publicKey.asymmetricKeyType !== 'rsa' || (publicKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
    throw new AppError('E_KEY_FILE', `${publicFile} must be an RSA key of at least 2048 bits`);
  }
  return new RsaMasterKey(id, publicKey, privateKey, fs.statSync(publicFile).mtime);
}

function assertKeyId(id: string, file: string): void {
  if (!KEY_ID.test(id)) throw new AppError('E_KEY_FILE', `key file ${file} has an unexpected name (expected lk_YYYYMMDD_xxxxxxxx or rk_...)`);
}

/** Refuses a secret key file that anyone but its owner can read or write. */
export function assertPrivateMode(file: string): void {
  const mode = fs.statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new AppError('E_KEY_FILE', `key file ${file} has mode ${mode.toString(8)}; it must be readable by its owner only (chmod 600 ${file})`);
  }
}

function readCurrentKeyId(dir: string, keys: MasterKey[]): string {
  const file = path.join(dir, CURRENT_FILE);
  if (!fs.existsSync(file)) {
    if (keys.length === 1) return keys[0]!.id;
    throw new AppError('E_KEY_FILE', `${file} is missing and the folder holds ${keys.length} keys; write the id of the current key into it`);
  }
  const id = fs.readFileSync(file, 'utf8').trim();
  if (!keys.some((key) => key.id === id)) throw new AppError('E_KEY_FILE', `${file} names key ${id}, which is not in the folder`);
  return id;
}

export function setCurrentKey(dir: string, id: string): void {
  writeFileAtomic(path.join(dir, CURRENT_FILE), `${id}\n`, 0o644);
}

export function generateLocalKey(dir: string, clock: Clock): LocalMasterKey {
  const now = clock.now();
  const id = newKeyId('local', now);
  const secret = crypto.randomBytes(32);
  const body = JSON.stringify({ id, kind: 'local', createdAt: now.toISOString(), key: secret.toString('base64') }, null, 2);
  writeFileAtomic(path.join(dir, `${id}${LOCAL_SUFFIX}`), `${body}\n`, 0o600);
  return new LocalMasterKey(id, secret, now);
}

export function writeLocalKey(dir: string, id: string, secret: Buffer, createdAt: Date): LocalMasterKey {
  assertKeyId(id, id);
  const body = JSON.stringify({ id, kind: 'local', createdAt: createdAt.toISOString(), key: secret.toString('base64') }, null, 2);
  writeFileAtomic(path.join(dir, `${id}${LOCAL_SUFFIX}`), `${body}\n`, 0o600);
  return new LocalMasterKey(id, secret, createdAt);
}

export function generateRsaKey(dir: string, clock: Clock, modulusLength = 3072): RsaMasterKey {
  const now = clock.now();
  const id = newKeyId('rsa', now);
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength });
  writeRsaKey(dir, id, publicKey, privateKey);
  return new RsaMasterKey(id, publicKey, privateKey, now);
}

export function writeRsaKey(dir: string, id: string, publicKey: crypto.KeyObject, privateKey: crypto.KeyObject | null): void {
  assertKeyId(id, id);
  writeFileAtomic(path.join(dir, `${id}${PUBLIC_SUFFIX}`), publicKey.export({ type: 'spki', format: 'pem' }) as string, 0o644);
  if (privateKey) {
    writeFileAtomic(path.join(dir, `${id}${PRIVATE_SUFFIX}`), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
  }
}

/** Writes with the final mode from the first byte (no window where the file is world-readable). */
function writeFileAtomic(file: string, content: string, mode: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(temp, 'wx', mode);
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(temp, mode);
  fs.renameSync(temp, file);
  // The rename is durable only once the folder itself is on disk: a key lost to a power cut
  // after "generated" was printed would make every recording under it unreadable.
  const dirFd = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}
