import crypto from 'node:crypto';
import { AppError } from '../errors';

/**
 * Master keys wrap the per-recording data keys. Two kinds:
 * - `local`: a 256-bit secret in a key file; wraps with AES-256-GCM (the key id is authenticated
 *   with it, so a wrapped key cannot be passed off as another key's).
 * - `rsa`: an RSA key pair; wraps with RSA-OAEP-SHA256 using only the public key, so an
 *   ingest-only node given just the public key can store recordings but never read them.
 * A keyring holds every master key this node knows (old ones stay until nothing refers to them)
 * and one current key that wraps new data keys.
 */

export type MasterKeyKind = 'local' | 'rsa';

export interface MasterKey {
  readonly id: string;
  readonly kind: MasterKeyKind;
  readonly createdAt: Date | null;
  /** Whether this node can unwrap with it (false for an RSA key held as public key only). */
  readonly canUnwrap: boolean;
  wrap(dataKey: Buffer): Buffer;
  unwrap(wrapped: Buffer): Buffer;
}

export interface WrappedDataKey {
  readonly keyId: string;
  readonly wrappedKey: Buffer;
}

const LOCAL_WRAP_VERSION = 1;

export class LocalMasterKey implements MasterKey {
  readonly kind = 'local' as const;
  readonly canUnwrap = true;

  constructor(
    readonly id: string,
    private readonly secret: Buffer,
    readonly createdAt: Date | null = null,
  ) {
    if (secret.length !== 32) throw new AppError('E_KEY_FILE', `master key ${id} is not 32 bytes`);
  }

  wrap(dataKey: Buffer): Buffer {
    const nonce = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.secret, nonce);
    cipher.setAAD(this.aad());
    const body = Buffer.concat([cipher.update(dataKey), cipher.final()]);
    return Buffer.concat([Buffer.from([LOCAL_WRAP_VERSION]), nonce, body, cipher.getAuthTag()]);
  }

  unwrap(wrapped: Buffer): Buffer {
    if (wrapped.length !== 1 + 12 + 32 + 16 || wrapped[0] !== LOCAL_WRAP_VERSION) {
      throw new AppError('E_KEY_UNWRAP', `wrapped data key is malformed for master key ${this.id}`);
    }
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.secret, wrapped.subarray(1, 13));
    decipher.setAAD(this.aad());
    decipher.setAuthTag(wrapped.subarray(45));
    try {
      return Buffer.concat([decipher.update(wrapped.subarray(13, 45)), decipher.final()]);
    } catch (cause) {
      throw new AppError('E_KEY_UNWRAP', `data key does not unwrap with master key ${this.id} (wrong key or damaged)`, { cause });
    }
  }

  /** The raw secret, only for escrow export; never logged. */
  exportSecret(): Buffer {
    return Buffer.from(this.secret);
  }

  private aad(): Buffer {
    return Buffer.from(`callvault/wrap/v1:${this.id}`, 'utf8');
  }
}

export class RsaMasterKey implements MasterKey {
  readonly kind = 'rsa' as const;

  constructor(
    readonly id: string,
    private readonly publicKey: crypto.KeyObject,
    private readonly privateKey: crypto.KeyObject | null,
    readonly createdAt: Date | null = null,
  ) {}

  get canUnwrap(): boolean {
    return this.privateKey !== null;
  }

  wrap(dataKey: Buffer): Buffer {
    return crypto.publicEncrypt({ key: this.publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, dataKey);
  }

  unwrap(wrapped: Buffer): Buffer {
    if (!this.privateKey) {
      throw new AppError('E_KEY_PRIVATE_MISSING', `this node holds only the public part of RSA key ${this.id}; it can store recordings but not decrypt them`);
    }
    try {
      return crypto.privateDecrypt({ key: this.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped);
    } catch (cause) {
      throw new AppError('E_KEY_UNWRAP', `data key does not unwrap with RSA key ${this.id} (wrong key or damaged)`, { cause });
    }
  }

  exportPrivateKey(): crypto.KeyObject | null {
    return this.privateKey;
  }

  exportPublicKey(): crypto.KeyObject {
    return this.publicKey;
  }
}

export interface KeyStatus {
  readonly id: string;
  readonly kind: MasterKeyKind;
  readonly current: boolean;
  readonly canUnwrap: boolean;
  readonly createdAt: Date | null;
}

/** Where a keyring re-reads its keys from (the key folder); null when the folder cannot be read now. */
export type KeySource = () => { readonly keys: readonly MasterKey[]; readonly currentId: string } | null;

/** How often a long-running process looks at the key folder for a new current key. */
export const KEY_REFRESH_MS = 60_000;
/** A key id not in the keyring re-reads the folder at most this often (a rotation run elsewhere just added it). */
const MISSING_KEY_REFRESH_MS = 2_000;

export class Keyring {
  private readonly keys = new Map<string, MasterKey>();
  private lastRefresh = Date.now();
  private lastMissRefresh = 0;

  /**
   * With a `source`, a running service follows `keys rotate` run beside it: new keys are picked
   * up when a recording names one it does not know, and a new current key within a minute.
   */
  constructor(
    keys: readonly MasterKey[],
    private currentId: string,
    private readonly source?: KeySource,
  ) {
    for (const key of keys) this.keys.set(key.id, key);
    if (!this.keys.has(currentId)) throw new AppError('E_KEY_NOT_FOUND', `current master key ${currentId} is not in the keyring`);
  }

  /** Re-reads the key source: adds keys not yet known (none is ever dropped) and follows its current key. */
  refresh(): void {
    this.lastRefresh = Date.now();
    const found = this.source?.();
    if (!found) return;
    for (const key of found.keys) if (!this.keys.has(key.id)) this.keys.set(key.id, key);
    if (this.keys.has(found.currentId)) this.currentId = found.currentId;
  }

  get currentKeyId(): string {
    return this.currentId;
  }

  get(id: string): MasterKey | undefined {
    return this.keys.get(id);
  }

  wrap(dataKey: Buffer): WrappedDataKey {
    if (this.source && Date.now() - this.lastRefresh >= KEY_REFRESH_MS) this.refresh();
    const key = this.keys.get(this.currentId)!;
    return { keyId: key.id, wrappedKey: key.wrap(dataKey) };
  }

  unwrap(keyId: string, wrappedKey: Buffer): Buffer {
    if (!this.keys.has(keyId) && this.source && Date.now() - this.lastMissRefresh >= MISSING_KEY_REFRESH_MS) {
      this.lastMissRefresh = Date.now();
      this.refresh();
    }
    const key = this.keys.get(keyId);
    if (!key) throw new AppError('E_KEY_NOT_FOUND', `master key ${keyId} is not in the key folder of this node`);
    return key.unwrap(wrappedKey);
  }

  canUnwrap(keyId: string): boolean {
    return this.keys.get(keyId)?.canUnwrap ?? false;
  }

  status(): KeyStatus[] {
    return [...this.keys.values()]
      .map((key) => ({ id: key.id, kind: key.kind, current: key.id === this.currentId, canUnwrap: key.canUnwrap, createdAt: key.createdAt }))
      .sort((a, b) => (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0));
  }

  /** Adds a key (after generation or import) and optionally makes it current. */
  add(key: MasterKey, makeCurrent = false): void {
    this.keys.set(key.id, key);
    if (makeCurrent) this.currentId = key.id;
  }
}
