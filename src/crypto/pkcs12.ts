import crypto from 'node:crypto';
import forge from 'node-forge';
import { AppError } from '../errors';

/**
 * A passphrase-protected PKCS#12 (PFX, RFC 7292) holding keys, for escrow of master keys.
 *
 * node-forge writes and reads PKCS#12 for RSA private keys with certificates, but it has no
 * way to carry a symmetric key: `toPkcs12Asn1` takes only an RSA key, and `pkcs12FromAsn1`
 * throws "Unsupported PKCS#12 SafeBag type" on a secretBag. So the PFX is assembled here from
 * node-forge's ASN.1 encoder/decoder and its PKCS#12 key derivation (which Node lacks), in the
 * layout other tools read:
 *
 * - an RSA private key is a standard `pkcs8ShroudedKeyBag` (openssl pkcs12 and forge read it);
 * - a symmetric key is a `secretBag` whose secretTypeId is pkcs8ShroudedKeyBag and whose value
 *   is an encrypted PKCS#8 PrivateKeyInfo naming the key's algorithm (AES) and holding the raw
 *   key. This is how Java's keytool stores a SecretKeyEntry (and what OpenSSL's
 *   PKCS12_decrypt_secretbag reads), so an escrow agent can inspect the file with standard
 *   tools; a private-key bag with an AES "private key" would have been readable by forge but
 *   misread by everything else.
 *
 * Protection: each key is encrypted with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), run with
 * Node's crypto (node-forge's PBKDF2 falls back to pure JavaScript when given a digest object,
 * ~25x slower). The whole file carries an HMAC-SHA256 MAC keyed by the PKCS#12 KDF (node-forge).
 * The MAC is also the cheapest way to test a guessed passphrase, so it gets the same iteration
 * count as the key encryption: a low MAC count (OpenSSL's default is 2048) would undo the
 * PBKDF2 work factor for an attacker holding a copy of the escrow file.
 */

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  secretBag: '1.2.840.113549.1.12.10.1.5',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSHA256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

/** OWASP's 2023 figure for PBKDF2-HMAC-SHA256; about 0.1 s natively and 1 s for the forge MAC here. */
export const DEFAULT_ITERATIONS = 600_000;
/** Refuse files that would make us spin for minutes (a crafted or corrupt count). */
const MAX_ITERATIONS = 10_000_000;

export type BagType = 'secret' | 'private-key';

/** One key in the file: its PKCS#8 PrivateKeyInfo (DER), in the clear once read. */
export interface KeyBag {
  readonly type: BagType;
  /** The friendlyName attribute (callvault puts the key id here). */
  readonly friendlyName: string | null;
  readonly privateKeyInfo: Buffer;
}

export interface WriteOptions {
  readonly iterations?: number;
}

const { asn1 } = forge;
const U = asn1.Class.UNIVERSAL;
const T = asn1.Type;

const seq = (items: forge.asn1.Asn1[]): forge.asn1.Asn1 => asn1.create(U, T.SEQUENCE, true, items);
const set = (items: forge.asn1.Asn1[]): forge.asn1.Asn1 => asn1.create(U, T.SET, true, items);
const oid = (id: string): forge.asn1.Asn1 => asn1.create(U, T.OID, false, asn1.oidToDer(id).getBytes());
const octets = (bytes: Buffer): forge.asn1.Asn1 => asn1.create(U, T.OCTETSTRING, false, bytes.toString('binary'));
const integer = (value: number): forge.asn1.Asn1 => asn1.create(U, T.INTEGER, false, asn1.integerToDer(value).getBytes());
const nul = (): forge.asn1.Asn1 => asn1.create(U, T.NULL, false, '');
const explicit0 = (inner: forge.asn1.Asn1): forge.asn1.Asn1 => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [inner]);
const der = (node: forge.asn1.Asn1): Buffer => Buffer.from(asn1.toDer(node).getBytes(), 'binary');

/** Builds the PFX (DER) holding `bags`, each encrypted under `passphrase`. */
export function writePfx(bags: readonly KeyBag[], passphrase: string, options: WriteOptions = {}): Buffer {
  const iterations = options.iterations ?? DEFAULT_ITERATIONS;
  const safeBags = bags.map((bag) => {
    const encrypted = encryptPrivateKeyInfo(bag.privateKeyInfo, passphrase, iterations);
    const attributes = set([
      seq([oid(OID.friendlyName), set([asn1.create(U, T.BMPSTRING, false, bag.friendlyName ?? '')])]),
      seq([oid(OID.localKeyId), set([octets(crypto.createHash('sha1').update(bag.privateKeyInfo).digest())])]),
    ]);
    if (bag.type === 'private-key') return seq([oid(OID.pkcs8ShroudedKeyBag), explicit0(encrypted), attributes]);
    // SecretBag ::= SEQUENCE { secretTypeId, secretValue [0] EXPLICIT } with the encrypted PKCS#8 as an OCTET STRING, as keytool writes it.
    const secretBag = seq([oid(OID.pkcs8ShroudedKeyBag), explicit0(octets(der(encrypted)))]);
    return seq([oid(OID.secretBag), explicit0(secretBag), attributes]);
  });
  const safeContents = der(seq(safeBags));
  const authSafe = der(seq([seq([oid(OID.data), explicit0(octets(safeContents))])]));

  const macSalt = crypto.randomBytes(16);
  const mac = computeMac(passphrase, macSalt, iterations, authSafe);
  const macData = seq([seq([seq([oid(OID.sha256), nul()]), octets(mac)]), octets(macSalt), integer(iterations)]);
  return der(seq([integer(3), seq([oid(OID.data), explicit0(octets(authSafe))]), macData]));
}

/**
 * Reads the keys of a PFX. The MAC is checked first: a wrong passphrase fails there with
 * E_ESCROW_PASSPHRASE before anything is decrypted.
 * @throws AppError E_ESCROW_FORMAT (not a PKCS#12 this can read), E_ESCROW_PASSPHRASE
 */
export function readPfx(file: Buffer, passphrase: string): KeyBag[] {
  const pfx = parse(file, 'the file is not a PKCS#12 (.p12) file');
  const [version, authSafeInfo, macData] = children(pfx, 'PFX');
  if (!version || !authSafeInfo || asn1.derToInteger(expectType(version, T.INTEGER, 'PFX version').value as string) !== 3) {
    throw format('the PKCS#12 file is not version 3');
  }
  const authSafe = contentOfData(authSafeInfo, 'authSafe');
  if (!macData) throw format('the PKCS#12 file has no MAC (password integrity); callvault only reads passphrase-protected files');
  checkMac(macData, passphrase, authSafe);

  const bags: KeyBag[] = [];
  for (const info of children(parse(authSafe, 'AuthenticatedSafe is malformed'), 'AuthenticatedSafe')) {
    const [type] = children(info, 'ContentInfo');
    // Certificates usually travel in encryptedData; keys (shrouded) in data. Only keys matter here.
    if (type && oidOf(type) === OID.encryptedData) continue;
    const safeContents = parse(contentOfData(info, 'SafeContents'), 'SafeContents is malformed');
    for (const safeBag of children(safeContents, 'SafeContents')) {
      const bag = readSafeBag(safeBag, passphrase);
      if (bag) bags.push(bag);
    }
  }
  return bags;
}

function readSafeBag(safeBag: forge.asn1.Asn1, passphrase: string): KeyBag | null {
  const [bagId, bagValue, attributes] = children(safeBag, 'SafeBag');
  if (!bagId || !bagValue) throw format('a SafeBag is incomplete');
  const type = oidOf(bagId);
  const friendlyName = attributes ? readFriendlyName(attributes) : null;
  const value = explicitContent(bagValue, 'bagValue');
  if (type === OID.pkcs8ShroudedKeyBag) {
    return { type: 'private-key', friendlyName, privateKeyInfo: decryptPrivateKeyInfo(value, passphrase) };
  }
  if (type === OID.secretBag) {
    const [secretTypeId, secretValue] = children(value, 'SecretBag');
    if (!secretTypeId || !secretValue || oidOf(secretTypeId) !== OID.pkcs8ShroudedKeyBag) {
      throw format('a secret bag holds something other than an encrypted PKCS#8 key');
    }
    let encrypted = explicitContent(secretValue, 'secretValue');
    // keytool wraps the EncryptedPrivateKeyInfo in an OCTET STRING; RFC 7292 reads as if it were direct. Accept both.
    if (encrypted.type === T.OCTETSTRING && !encrypted.constructed) encrypted = parse(Buffer.from(encrypted.value as string, 'binary'), 'secret bag value is malformed');
    return { type: 'secret', friendlyName, privateKeyInfo: decryptPrivateKeyInfo(encrypted, passphrase) };
  }
  // Certificates, CRLs and other bags carry no key.
  return null;
}

function readFriendlyName(attributes: forge.asn1.Asn1): string | null {
  for (const attribute of children(attributes, 'bagAttributes')) {
    const [id, values] = children(attribute, 'attribute');
    if (id && values && oidOf(id) === OID.friendlyName) {
      const [first] = children(values, 'friendlyName');
      if (first && first.type === T.BMPSTRING) return first.value as string;
    }
  }
  return null;
}

function encryptPrivateKeyInfo(privateKeyInfo: Buffer, passphrase: string, iterations: number): forge.asn1.Asn1 {
  const salt = crypto.randomBytes(16);
  const iv = crypto.randomBytes(16);
  const key = crypto.pbkdf2Sync(Buffer.from(passphrase, 'utf8'), salt, iterations, 32, 'sha256');
  const cipher = crypto.createCipheriv('aes-256-cbc', key, iv);
  const ciphertext = Buffer.concat([cipher.update(privateKeyInfo), cipher.final()]);
  key.fill(0);
  const pbkdf2Params = seq([octets(salt), integer(iterations), integer(32), seq([oid(OID.hmacWithSHA256), nul()])]);
  const algorithm = seq([oid(OID.pbes2), seq([seq([oid(OID.pbkdf2), pbkdf2Params]), seq([oid(OID.aes256Cbc), octets(iv)])])]);
  return seq([algorithm, octets(ciphertext)]);
}

/** Decrypts an EncryptedPrivateKeyInfo written with PBES2 / PBKDF2-HMAC-SHA256 / AES-256-CBC. */
function decryptPrivateKeyInfo(encrypted: forge.asn1.Asn1, passphrase: string): Buffer {
  const [algorithm, data] = children(encrypted, 'EncryptedPrivateKeyInfo');
  if (!algorithm || !data) throw format('an encrypted key is incomplete');
  const [scheme, params] = children(algorithm, 'encryptionAlgorithm');
  if (!scheme || !params || oidOf(scheme) !== OID.pbes2) throw format('a key is encrypted with a scheme other than PBES2 (re-export it with AES-256)');
  const [kdf, encryption] = children(params, 'PBES2-params');
  const [kdfId, kdfParams] = kdf ? children(kdf, 'keyDerivationFunc') : [];
  if (!kdfId || !kdfParams || oidOf(kdfId) !== OID.pbkdf2) throw format('a key is protected with a key derivation other than PBKDF2');
  const [saltNode, countNode, ...rest] = children(kdfParams, 'PBKDF2-params');
  const prf = rest.find((node) => node.type === T.SEQUENCE);
  const [prfId] = prf ? children(prf, 'prf') : [];
  if (!saltNode || !countNode || !prfId || oidOf(prfId) !== OID.hmacWithSHA256) throw format('a key is protected with PBKDF2 other than HMAC-SHA256');
  const [cipherId, ivNode] = encryption ? children(encryption, 'encryptionScheme') : [];
  if (!cipherId || !ivNode || oidOf(cipherId) !== OID.aes256Cbc) throw format('a key is encrypted with a cipher other than AES-256-CBC');
  const iterations = readIterations(countNode);
  const key = crypto.pbkdf2Sync(Buffer.from(passphrase, 'utf8'), bytesOf(saltNode), iterations, 32, 'sha256');
  try {
    const decipher = crypto.createDecipheriv('aes-256-cbc', key, bytesOf(ivNode));
    return Buffer.concat([decipher.update(bytesOf(data)), decipher.final()]);
  } catch (cause) {
    // The MAC matched, so the passphrase is right: the key itself is damaged.
    throw new AppError('E_ESCROW_FORMAT', 'a key in the PKCS#12 file does not decrypt although the passphrase is right (the file is damaged)', { cause });
  } finally {
    key.fill(0);
  }
}

function computeMac(passphrase: string, salt: Buffer, iterations: number, content: Buffer): Buffer {
  // PKCS#12 KDF (RFC 7292 B.2) with ID 3 (MAC key): node-forge's implementation; Node has none.
  const macKey = forge.pkcs12.generateKey(passphrase, forge.util.createBuffer(salt.toString('binary')), 3, iterations, 32, forge.md.sha256.create());
  return crypto.createHmac('sha256', Buffer.from(macKey.getBytes(), 'binary')).update(content).digest();
}

function checkMac(macData: forge.asn1.Asn1, passphrase: string, authSafe: Buffer): void {
  const [digestInfo, saltNode, countNode] = children(macData, 'MacData');
  const [algorithm, digest] = digestInfo ? children(digestInfo, 'DigestInfo') : [];
  const [digestId] = algorithm ? children(algorithm, 'digestAlgorithm') : [];
  if (!digestId || !digest || !saltNode) throw format('the PKCS#12 MAC is incomplete');
  if (oidOf(digestId) !== OID.sha256) throw format('the PKCS#12 MAC is not HMAC-SHA256 (re-export with a SHA-256 MAC)');
  const iterations = countNode ? readIterations(countNode) : 1;
  const expected = bytesOf(digest);
  const actual = computeMac(passphrase, bytesOf(saltNode), iterations, authSafe);
  if (expected.length !== actual.length || !crypto.timingSafeEqual(expected, actual)) {
    throw new AppError('E_ESCROW_PASSPHRASE', 'wrong passphrase for this PKCS#12 file (or the file was altered)');
  }
}

// --- ASN.1 helpers: every structural surprise is E_ESCROW_FORMAT, never a TypeError ---

function format(message: string): AppError {
  return new AppError('E_ESCROW_FORMAT', message);
}

function parse(bytes: Buffer, problem: string): forge.asn1.Asn1 {
  try {
    return asn1.fromDer(forge.util.createBuffer(bytes.toString('binary')), true);
  } catch (cause) {
    throw new AppError('E_ESCROW_FORMAT', problem, { cause });
  }
}

function children(node: forge.asn1.Asn1, what: string): forge.asn1.Asn1[] {
  if (!node.constructed || !Array.isArray(node.value)) throw format(`${what} is not a structure`);
  return node.value;
}

function expectType(node: forge.asn1.Asn1, type: number, what: string): forge.asn1.Asn1 {
  if (node.tagClass !== U || node.type !== type) throw format(`${what} has an unexpected type`);
  return node;
}

function oidOf(node: forge.asn1.Asn1): string {
  return asn1.derToOid(expectType(node, T.OID, 'an object identifier').value as string);
}

/** OCTET STRING contents, including the BER "constructed" form some writers use. */
function bytesOf(node: forge.asn1.Asn1): Buffer {
  if (node.tagClass !== U || node.type !== T.OCTETSTRING) throw format('expected an OCTET STRING');
  if (node.constructed) return Buffer.concat(children(node, 'OCTET STRING').map(bytesOf));
  return Buffer.from(node.value as string, 'binary');
}

function explicitContent(node: forge.asn1.Asn1, what: string): forge.asn1.Asn1 {
  if (node.tagClass !== asn1.Class.CONTEXT_SPECIFIC || node.type !== 0) throw format(`${what} is not tagged [0]`);
  const [inner] = children(node, what);
  if (!inner) throw format(`${what} is empty`);
  return inner;
}

/** The OCTET STRING content of a ContentInfo of type data. */
function contentOfData(info: forge.asn1.Asn1, what: string): Buffer {
  const [type, content] = children(info, `${what} ContentInfo`);
  if (!type || !content || oidOf(type) !== OID.data) throw format(`${what} is not plain data (public-key protected PKCS#12 is not supported)`);
  return bytesOf(explicitContent(content, `${what} content`));
}

function readIterations(node: forge.asn1.Asn1): number {
  const value = asn1.derToInteger(expectType(node, T.INTEGER, 'an iteration count').value as string);
  if (!Number.isInteger(value) || value < 1 || value > MAX_ITERATIONS) throw format(`iteration count ${value} is out of range`);
  return value;
}
