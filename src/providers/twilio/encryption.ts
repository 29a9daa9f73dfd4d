import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { assertPrivateMode } from '../../crypto/key-files';
import { AppError } from '../../errors';

/**
 * Twilio Voice Recording Encryption. Twilio encrypts the recording with a fresh AES-256-GCM
 * content key (the 16-byte tag appended to the file) and wraps that key with RSA-OAEP-SHA256
 * (MGF1-SHA256) under a public key the practice uploaded; the callback's EncryptionDetails say
 * which (`public_key_sid`) and carry `encrypted_cek` and `iv`. callvault unwraps the key with the
 * matching private key from CALLVAULT_TWILIO_ENCRYPTION_KEYS_DIR (<public_key_sid>.pem, 0600)
 * and decrypts while streaming into its own container; the tag is checked at the end, and a
 * mismatch fails the attempt, so nothing unauthenticated is ever indexed.
 */

export interface EncryptionDetails {
  readonly type?: string;
  readonly public_key_sid: string;
  readonly encrypted_cek: string;
  readonly iv: string;
}

const PUBLIC_KEY_SID = /^CR[0-9a-fA-F]{32}$/;
const TAG_LENGTH = 16;

export function parseEncryptionDetails(text: string): EncryptionDetails {
  let parsed: Partial<EncryptionDetails>;
  try {
    parsed = JSON.parse(text) as Partial<EncryptionDetails>;
  } catch {
    throw new AppError('E_VALIDATION', 'EncryptionDetails is not valid JSON', { retryable: false });
  }
  if (typeof parsed.public_key_sid !== 'string' || !PUBLIC_KEY_SID.test(parsed.public_key_sid)) {
    throw new AppError('E_VALIDATION', 'EncryptionDetails.public_key_sid is not a Twilio public key SID', { retryable: false });
  }
  if (typeof parsed.encrypted_cek !== 'string' || typeof parsed.iv !== 'string') {
    throw new AppError('E_VALIDATION', 'EncryptionDetails needs encrypted_cek and iv', { retryable: false });
  }
  return parsed as EncryptionDetails;
}

export function unwrapContentKey(details: EncryptionDetails, keysDir: string | null): Buffer {
  const file = keysDir ? path.join(keysDir, `${details.public_key_sid}.pem`) : null;
  if (!file || !fs.existsSync(file)) {
    throw new AppError(
      'E_PROVIDER_KEY_UNKNOWN',
      `Twilio encrypted this recording with public key ${details.public_key_sid}; its private key is not configured (put it in ${file ?? 'CALLVAULT_TWILIO_ENCRYPTION_KEYS_DIR'} and run callvault jobs retry)`,
    );
  }
  assertPrivateMode(file);
  let cek: Buffer;
  try {
    const privateKey = crypto.createPrivateKey(fs.readFileSync(file));
    cek = crypto.privateDecrypt({ key: privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(details.encrypted_cek, 'base64'));
  } catch (cause) {
    throw new AppError('E_KEY_UNWRAP', `the content key does not unwrap with the private key for ${details.public_key_sid}`, { cause });
  }
  if (cek.length !== 32) throw new AppError('E_KEY_UNWRAP', 'the Twilio content key is not 256 bits');
  return cek;
}

/** AES-256-GCM with the tag at the end of the stream: everything but the last 16 bytes is ciphertext. */
export class TwilioDecryptStream extends Transform {
  private readonly decipher: crypto.DecipherGCM;
  private tail = Buffer.alloc(0);

  constructor(contentKey: Buffer, iv: Buffer) {
    super();
    this.decipher = crypto.createDecipheriv('aes-256-gcm', contentKey, iv, { authTagLength: TAG_LENGTH });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const data = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : chunk;
    if (data.length <= TAG_LENGTH) {
      this.tail = Buffer.from(data);
      callback();
      return;
    }
    this.tail = Buffer.from(data.subarray(data.length - TAG_LENGTH));
    callback(null, this.decipher.update(data.subarray(0, data.length - TAG_LENGTH)));
  }

  override _flush(callback: TransformCallback): void {
    if (this.tail.length !== TAG_LENGTH) {
      callback(new AppError('E_CRYPTO_AUTH', 'the Twilio-encrypted recording is truncated (no authentication tag)'));
      return;
    }
    try {
      this.decipher.setAuthTag(this.tail);
      const rest = this.decipher.final();
      callback(null, rest.length > 0 ? rest : undefined);
    } catch (cause) {
      callback(new AppError('E_CRYPTO_AUTH', 'the Twilio-encrypted recording failed authentication (wrong key or damaged download)', { cause }));
    }
  }
}
