import crypto from 'node:crypto';
import forge from 'node-forge';
import { AppError } from '../errors';
import { isKeyId, readKeyFolder, setCurrentKey, writeLocalKey, writeRsaKey } from './key-files';
import { LocalMasterKey, RsaMasterKey, type MasterKey, type MasterKeyKind } from './keyring';
import { readPfx, writePfx, type KeyBag, type WriteOptions } from './pkcs12';

/**
 * Master keys in and out of a passphrase-protected PKCS#12 file, for escrow: a copy kept apart
 * from the servers (a safe, the practice's IT supplier) that brings the recordings back if the
 * key folder is lost. A local key travels as a secret bag, an RSA key as its private key (see
 * pkcs12.ts); each carries its callvault key id as the bag's friendlyName.
 */

/** "AES" as PKCS#8 names a secret key's algorithm (the OID Java's keytool writes for an AES key). */
const AES_KEY_OID = '2.16.840.1.101.3.4.1';
/** A master key protects every recording; its escrow passphrase must not be guessable. */
export const MIN_PASSPHRASE_LENGTH = 12;

export function checkNewPassphrase(passphrase: string): void {
  if ([...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new AppError('E_VALIDATION', `the escrow passphrase must be at least ${MIN_PASSPHRASE_LENGTH} characters (a few random words is best)`);
  }
}

/** The escrow file for `keys` (each must be able to decrypt: an RSA key held as public key only cannot be escrowed). */
export function exportKeys(keys: readonly MasterKey[], passphrase: string, options: WriteOptions = {}): Buffer {
  checkNewPassphrase(passphrase);
  if (keys.length === 0) throw new AppError('E_KEY_NOT_FOUND', 'no master key to export');
  return writePfx(keys.map(bagOf), passphrase, options);
}

function bagOf(key: MasterKey): KeyBag {
  if (key instanceof LocalMasterKey) {
    const secret = key.exportSecret();
    try {
      return { type: 'secret', friendlyName: key.id, privateKeyInfo: secretKeyInfo(secret) };
    } finally {
      secret.fill(0);
    }
  }
  if (key instanceof RsaMasterKey) {
    const privateKey = key.exportPrivateKey();
    if (!privateKey) throw new AppError('E_KEY_PRIVATE_MISSING', `this node holds only the public part of RSA key ${key.id}; export it where its .private.pem is`);
    return { type: 'private-key', friendlyName: key.id, privateKeyInfo: privateKey.export({ type: 'pkcs8', format: 'der' }) };
  }
  throw new AppError('E_KEY_FILE', `master key ${key.id} is of an unknown kind`);
}

/** PrivateKeyInfo ::= SEQUENCE { version 0, AlgorithmIdentifier { aes }, OCTET STRING key } */
function secretKeyInfo(secret: Buffer): Buffer {
  const { asn1 } = forge;
  const node = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(0).getBytes()),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(AES_KEY_OID).getBytes())]),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, secret.toString('binary')),
  ]);
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}

function secretFromKeyInfo(info: Buffer): Buffer {
  const { asn1 } = forge;
  try {
    const node = asn1.fromDer(forge.util.createBuffer(info.toString('binary')), true);
    const [version, algorithm, key] = node.value as forge.asn1.Asn1[];
    const [algorithmId] = (algorithm?.value ?? []) as forge.asn1.Asn1[];
    if (!version || !key || !algorithmId || asn1.derToOid(algorithmId.value as string) !== AES_KEY_OID || key.type !== asn1.Type.OCTETSTRING) throw new Error('not an AES key');
    return Buffer.from(key.value as string, 'binary');
  } catch (cause) {
    throw new AppError('E_ESCROW_FORMAT', 'a secret key in the PKCS#12 file is not an AES key', { cause });
  }
}

/** Reads the master keys of an escrow file. @throws E_ESCROW_PASSPHRASE, E_ESCROW_FORMAT */
export function readEscrow(file: Buffer, passphrase: string): MasterKey[] {
  const bags = readPfx(file, passphrase);
  if (bags.length === 0) throw new AppError('E_ESCROW_FORMAT', 'the PKCS#12 file holds no key');
  return bags.map((bag) => {
    const id = bag.friendlyName;
    const expected: MasterKeyKind = bag.type === 'secret' ? 'local' : 'rsa';
    if (!id || !isKeyId(id, expected)) {
      throw new AppError('E_ESCROW_FORMAT', `the PKCS#12 file holds a key without a callvault ${expected} key id (friendlyName "${(id ?? '').slice(0, 40)}"); it was not exported by callvault`);
    }
    const createdAt = dateOfKeyId(id);
    if (bag.type === 'secret') return new LocalMasterKey(id, secretFromKeyInfo(bag.privateKeyInfo), createdAt);
    let privateKey: crypto.KeyObject;
    try {
      privateKey = crypto.createPrivateKey({ key: bag.privateKeyInfo, format: 'der', type: 'pkcs8' });
    } catch (cause) {
      throw new AppError('E_ESCROW_FORMAT', `key ${id} in the PKCS#12 file is not a readable private key`, { cause });
    }
    if (privateKey.asymmetricKeyType !== 'rsa') throw new AppError('E_ESCROW_FORMAT', `key ${id} in the PKCS#12 file is not an RSA key`);
    return new RsaMasterKey(id, crypto.createPublicKey(privateKey), privateKey, createdAt);
  });
}

export interface RestoreResult {
  readonly restored: string[];
  /** Already in the folder, identical. */
  readonly present: string[];
  /** The key made current, if any. */
  readonly current: string | null;
}

/**
 * Writes escrowed keys into the key folder (0600). A key already there is left alone when it is
 * the same key and refused when it is not (two keys must never share an id). On a folder with
 * no current key, the first key of the file (the one that was current at export) becomes current.
 */
export function restoreKeys(dir: string, keys: readonly MasterKey[], options: { makeCurrent?: boolean } = {}): RestoreResult {
  const existing = new Map(readKeyFolder(dir).map((key) => [key.id, key]));
  const hadCurrent = existing.size > 0;
  const restored: string[] = [];
  const present: string[] = [];
  for (const key of keys) {
    const found = existing.get(key.id);
    if (found) {
      if (!sameKey(found, key)) throw new AppError('E_KEY_FILE', `the key folder already holds a different key with id ${key.id}; refusing to overwrite it`);
      // A public-only RSA key gains its private half from the escrow.
      if (found.canUnwrap || !(key instanceof RsaMasterKey)) {
        present.push(key.id);
        continue;
      }
    }
    if (key instanceof LocalMasterKey) {
      const secret = key.exportSecret();
      try {
        writeLocalKey(dir, key.id, secret, key.createdAt ?? new Date());
      } finally {
        secret.fill(0);
      }
    } else if (key instanceof RsaMasterKey) {
      writeRsaKey(dir, key.id, key.exportPublicKey(), key.exportPrivateKey());
    }
    restored.push(key.id);
  }
  let current: string | null = null;
  if ((options.makeCurrent || !hadCurrent) && keys[0]) {
    setCurrentKey(dir, keys[0].id);
    current = keys[0].id;
  }
  return { restored, present, current };
}

function sameKey(a: MasterKey, b: MasterKey): boolean {
  if (a instanceof LocalMasterKey && b instanceof LocalMasterKey) {
    const [x, y] = [a.exportSecret(), b.exportSecret()];
    try {
      return crypto.timingSafeEqual(x, y);
    } finally {
      x.fill(0);
      y.fill(0);
    }
  }
  if (a instanceof RsaMasterKey && b instanceof RsaMasterKey) {
    const spki = (key: RsaMasterKey): Buffer => key.exportPublicKey().export({ type: 'spki', format: 'der' });
    return spki(a).equals(spki(b));
  }
  return false;
}

/** Key ids carry their creation day (lk_YYYYMMDD_...). */
function dateOfKeyId(id: string): Date | null {
  const match = /^[a-z]{2}_(\d{4})(\d{2})(\d{2})_/.exec(id);
  return match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))) : null;
}
