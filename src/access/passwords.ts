import crypto from 'node:crypto';
import { promisify } from 'node:util';

/**
 * Password hashes: scrypt, with its parameters and salt stored beside the hash
 * (`$scrypt$ln=15,r=8,p=3$<salt>$<hash>`, base64), so the cost can be raised later and old hashes
 * still verify (and are upgraded at their next sign-in). r=8 with p=3 at ln=15 is one of OWASP's
 * equivalent scrypt settings: 32 MiB per hash, where ln=17 would take 128 MiB.
 */

const scrypt = promisify(crypto.scrypt) as (password: crypto.BinaryLike, salt: crypto.BinaryLike, keylen: number, options: crypto.ScryptOptions) => Promise<Buffer>;

const R = 8;
const P = 3;
const KEY_LENGTH = 32;
const FORMAT = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

interface Params {
  readonly ln: number;
  readonly r: number;
  readonly p: number;
}

function derive(password: string, salt: Buffer, params: Params, keyLength: number): Promise<Buffer> {
  const N = 2 ** params.ln;
  return scrypt(password.normalize('NFKC'), salt, keyLength, { N, r: params.r, p: params.p, maxmem: 256 * N * params.r + 16 * 1024 * 1024 });
}

export async function hashPassword(password: string, cost: number): Promise<string> {
  const salt = crypto.randomBytes(16);
  const params = { ln: cost, r: R, p: P };
  const key = await derive(password, salt, params, KEY_LENGTH);
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Constant-time comparison; false for a malformed hash rather than an error. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const match = FORMAT.exec(stored);
  if (!match) return false;
  const params = { ln: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  if (params.ln < 1 || params.ln > 24 || params.r < 1 || params.p < 1) return false;
  const expected = Buffer.from(match[5]!, 'base64');
  const salt = Buffer.from(match[4]!, 'base64');
  // A shortened hash would be a weaker one: only the full length is accepted.
  if (expected.length !== KEY_LENGTH || salt.length < 16) return false;
  const key = await derive(password, salt, params, KEY_LENGTH);
  return crypto.timingSafeEqual(key, expected);
}

export function needsRehash(stored: string, cost: number): boolean {
  const match = FORMAT.exec(stored);
  return !match || Number(match[1]) !== cost || Number(match[2]) !== R || Number(match[3]) !== P;
}
