import crypto from 'node:crypto';
import { validate as validateCron } from 'node-cron';
import { isSupportedCountry } from 'libphonenumber-js';
import { parsePeriod } from '../src/retention/period';
import { isRole } from '../src/access/roles';

/**
 * Every environment variable callvault reads, in one table: where its value goes in the
 * configuration tree, how its text is parsed, and whether it is a secret (then it may also come
 * from `NAME_FILE`, and is masked wherever configuration is printed).
 */

export type ParseResult = { ok: true; value: unknown } | { ok: false; problem: string };

export interface VariableSpec {
  readonly env: string;
  readonly path: string;
  readonly parse: (text: string) => ParseResult;
  readonly secret?: boolean;
  /** Merge the parsed object into the default instead of replacing it. */
  readonly merge?: boolean;
  readonly format?: (value: unknown) => string;
  readonly description: string;
}

const ok = (value: unknown): ParseResult => ({ ok: true, value });
const bad = (problem: string): ParseResult => ({ ok: false, problem });

const text = (trimmed = true) => (value: string): ParseResult => ok(trimmed ? value.trim() : value);

const integer = (min: number, max: number) => (value: string): ParseResult => {
  if (!/^\s*\d+\s*$/.test(value)) return bad(`must be a whole number, got "${value}"`);
  const number = Number(value);
  if (number < min || number > max) return bad(`must be between ${min} and ${max}, got ${number}`);
  return ok(number);
};

const bytes = (min: number) => (value: string): ParseResult => {
  const match = /^\s*(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$/i.exec(value);
  if (!match) return bad(`must be a size such as 1048576, 10MB or 2GiB, got "${value}"`);
  const unit = (match[2] ?? 'b').toLowerCase();
  const multiplier: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };
  const size = Number(match[1]) * multiplier[unit]!;
  if (size < min) return bad(`must be at least ${min} bytes`);
  return ok(size);
};

const boolean = (value: string): ParseResult => {
  const normalised = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(normalised)) return ok(true);
  if (['0', 'false', 'no', 'off'].includes(normalised)) return ok(false);
  return bad(`must be true or false, got "${value}"`);
};

const oneOf = (...allowed: string[]) => (value: string): ParseResult => {
  const normalised = value.trim().toLowerCase();
  const match = allowed.find((candidate) => candidate.toLowerCase() === normalised);
  return match ? ok(match) : bad(`must be one of ${allowed.join(', ')}, got "${value}"`);
};

const httpUrl = (value: string): ParseResult => {
  try {
    const url = new URL(value.trim());
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return bad('must be an http:// or https:// URL');
    return ok(url.toString().replace(/\/+$/, ''));
  } catch {
    return bad(`must be a URL such as https://callvault.example.nhs.uk, got "${value}"`);
  }
};

const databaseUrl = (value: string): ParseResult => {
  const trimmed = value.trim();
  if (/^sqlite:.+/.test(trimmed)) return ok(trimmed);
  if (/^postgres(ql)?:\/\/.+/.test(trimmed)) {
    try {
      new URL(trimmed);
      return ok(trimmed);
    } catch {
      return bad('is not a valid postgres:// URL');
    }
  }
  return bad('must be sqlite:<path> or postgres://user@host:port/database');
};

const list = (value: string): ParseResult =>
  ok(value.split(',').map((item) => item.trim().toLowerCase()).filter((item) => item !== ''));

const periods = (value: string): ParseResult => {
  const out: Record<string, string> = {};
  for (const entry of value.split(',').map((item) => item.trim()).filter(Boolean)) {
    const [name, period] = entry.split('=').map((part) => part?.trim());
    if (!name || !period || !/^[a-z][a-z0-9_-]{0,31}$/.test(name)) return bad(`"${entry}" must look like general=36m`);
    if (!parsePeriod(period)) return bad(`"${entry}": the period must look like 28d, 4w, 36m or 1y`);
    out[name] = period;
  }
  return Object.keys(out).length > 0 ? ok(out) : bad('must list at least one category, such as admin=28d,general=36m');
};

const cron = (value: string): ParseResult => {
  const trimmed = value.trim();
  if (trimmed.toLowerCase() === 'off') return ok('off');
  return validateCron(trimmed) ? ok(trimmed) : bad(`is not a valid cron expression (or "off"): "${value}"`);
};

const timezone = (value: string): ParseResult => {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: value.trim() });
    return ok(value.trim());
  } catch {
    return bad(`is not a time zone name such as Europe/London, got "${value}"`);
  }
};

const country = (value: string): ParseResult => {
  const upper = value.trim().toUpperCase();
  return isSupportedCountry(upper) ? ok(upper) : bad(`must be a two-letter country code such as GB, got "${value}"`);
};

const ed25519PublicKey = (value: string): ParseResult => {
  const raw = Buffer.from(value.trim(), 'base64');
  if (raw.length !== 32) return bad('must be the base64 of a 32-byte ed25519 public key (as shown in the Telnyx portal)');
  return ok(value.trim());
};

const privateKeyPem = (value: string): ParseResult => {
  try {
    crypto.createPrivateKey(value);
    return ok(value);
  } catch {
    return bad('must be a PEM private key (-----BEGIN PRIVATE KEY-----)');
  }
};

const category = (value: string): ParseResult =>
  /^[a-z][a-z0-9_-]{0,31}$/.test(value.trim()) ? ok(value.trim()) : bad(`must be a category name such as general, got "${value}"`);

const exemptRoles = (value: string): ParseResult => {
  const roles = value.split(',').map((item) => item.trim().toLowerCase()).filter(Boolean);
  for (const role of roles) {
    if (!isRole(role)) return bad(`"${role}" is not a role (manager, ig_lead, dpo, staff)`);
    if (role === 'admin') return bad('admin can never hear recordings without a grant (SPEC 1); remove it');
  }
  return ok(roles);
};

// MPEG-2 Layer III bitrates (exports are 24 kHz MP3, see src/export/transcoder.ts).
const MP3_BITRATES = [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
const mp3Bitrate = (value: string): ParseResult => {
  const match = /^\s*(\d+)\s*k?\s*$/i.exec(value);
  const kbps = match ? Number(match[1]) : NaN;
  return MP3_BITRATES.includes(kbps) ? ok(`${kbps}k`) : bad(`must be one of ${MP3_BITRATES.map((b) => `${b}k`).join(', ')}, got "${value}"`);
};

/**
 * Crash points for the crash-safety tests: the process kills itself (SIGKILL) there, as a power
 * cut would. Never set in production.
 */
export const FAILPOINTS = [
  'ingest.after-pending',
  'ingest.after-store',
  'ingest.after-verify',
  'ingest.after-index',
  'retention.after-mark',
  'retention.after-object-delete',
  'keys.rotate.before-commit',
] as const;

export const VARIABLES: readonly VariableSpec[] = [
  { env: 'PORT', path: 'port', parse: integer(0, 65535), description: 'HTTP port.' },
  { env: 'CALLVAULT_DATA_DIR', path: 'dataDir', parse: text(), description: 'Embedded data folder (SQLite file, local objects, keys).' },
  { env: 'CALLVAULT_DATABASE_URL', path: 'databaseUrl', parse: databaseUrl, secret: true, description: 'sqlite:<path> or postgres://user:password@host:port/db (add ?schema=name for a schema); as a secret, it may come from CALLVAULT_DATABASE_URL_FILE. Shown with the password masked.' },
  { env: 'CALLVAULT_AUTO_MIGRATE', path: 'autoMigrate', parse: boolean, description: 'Apply database migrations when serve starts.' },
  { env: 'CALLVAULT_SQLITE_SYNCHRONOUS', path: 'sqliteSynchronous', parse: oneOf('FULL', 'NORMAL'), description: 'SQLite durability: FULL survives power loss at every commit.' },
  { env: 'CALLVAULT_LOG_LEVEL', path: 'logLevel', parse: oneOf('error', 'warn', 'info', 'debug'), description: 'Log level.' },
  { env: 'CALLVAULT_PUBLIC_URL', path: 'publicUrl', parse: httpUrl, description: 'The URL providers call; webhook signatures are checked against it.' },
  { env: 'CALLVAULT_TRUST_PROXY', path: 'trustProxy', parse: text(), description: 'Proxies whose X-Forwarded-* headers are trusted (Express trust proxy value, e.g. loopback or 10.0.0.0/8).' },
  { env: 'CALLVAULT_DEFAULT_COUNTRY', path: 'defaultCountry', parse: country, description: 'Country for numbers written without +prefix.' },
  { env: 'CALLVAULT_STORAGE', path: 'storage.kind', parse: oneOf('local', 's3'), description: 'Where encrypted objects go.' },
  { env: 'CALLVAULT_LOCAL_STORAGE_DIR', path: 'storage.localDir', parse: text(), description: 'Folder for the local adapter (default <data>/objects).' },
  { env: 'CALLVAULT_S3_ENDPOINT', path: 'storage.s3.endpoint', parse: httpUrl, description: 'S3-compatible endpoint (empty for AWS).' },
  { env: 'CALLVAULT_S3_BUCKET', path: 'storage.s3.bucket', parse: text(), description: 'Bucket name.' },
  { env: 'CALLVAULT_S3_REGION', path: 'storage.s3.region', parse: text(), description: 'Region.' },
  { env: 'CALLVAULT_S3_ACCESS_KEY_ID', path: 'storage.s3.accessKeyId', parse: text(), description: 'Access key id (empty: the AWS default credential chain).' },
  { env: 'CALLVAULT_S3_SECRET_ACCESS_KEY', path: 'storage.s3.secretAccessKey', parse: text(), secret: true, description: 'Secret access key.' },
  { env: 'CALLVAULT_S3_FORCE_PATH_STYLE', path: 'storage.s3.forcePathStyle', parse: boolean, description: 'Path-style addressing (MinIO, Ceph, most on-premises servers).' },
  { env: 'CALLVAULT_S3_CHECKSUM', path: 'storage.s3.checksum', parse: oneOf('when_supported', 'when_required'), description: 'Request checksums; older S3-compatible servers need when_required.' },
  { env: 'CALLVAULT_S3_PREFIX', path: 'storage.s3.prefix', parse: text(), description: 'Key prefix inside the bucket (for a shared bucket).' },
  { env: 'CALLVAULT_S3_PART_SIZE_MB', path: 'storage.s3.partSizeMb', parse: integer(5, 512), description: 'Multipart part size; memory per upload is about part size x queue size.' },
  { env: 'CALLVAULT_KEK', path: 'keys.kek', parse: oneOf('local', 'rsa'), description: 'Master key kind: local key files or an RSA key pair.' },
  { env: 'CALLVAULT_KEYS_DIR', path: 'keys.dir', parse: text(), description: 'Folder of master key files (default <data>/keys).' },
  { env: 'CALLVAULT_KEYS_AUTO_GENERATE', path: 'keys.autoGenerate', parse: boolean, description: 'Generate a local master key on first start when none exists.' },
  { env: 'CALLVAULT_CHUNK_SIZE', path: 'crypto.chunkSize', parse: integer(1024, 16 * 1024 * 1024), description: 'Plaintext bytes per authenticated chunk (new recordings only).' },
  { env: 'CALLVAULT_MAX_WEBHOOK_BYTES', path: 'limits.webhookBodyBytes', parse: bytes(1024), description: 'Largest webhook body without audio.' },
  { env: 'CALLVAULT_MAX_AUDIO_BYTES', path: 'limits.audioBytes', parse: bytes(1024), description: 'Largest recording accepted (upload or download).' },
  { env: 'CALLVAULT_MAX_CONCURRENT_UPLOADS', path: 'limits.concurrentUploads', parse: integer(1, 256), description: 'Multipart uploads received at once (more are answered 503).' },
  { env: 'CALLVAULT_MAX_SPOOL_BYTES', path: 'limits.spoolBytes', parse: bytes(1024), description: 'Audio held in the encrypted spool at once, across uploads (more is answered 503).' },
  { env: 'CALLVAULT_FETCH_ALLOW_HOSTS', path: 'fetch.allowHosts', parse: list, format: (v) => (v as string[]).join(','), description: 'Extra hosts audio may be fetched from; listed hosts may be loopback or private.' },
  { env: 'CALLVAULT_FETCH_TIMEOUT_MS', path: 'fetch.timeoutMs', parse: integer(100, 3_600_000), description: 'Connect and idle-read timeout for downloads.' },
  { env: 'CALLVAULT_FETCH_DEADLINE_MS', path: 'fetch.deadlineMs', parse: integer(1000, 24 * 3_600_000), description: 'Longest a whole download may take, however steadily it trickles in (then retried later).' },
  { env: 'CALLVAULT_WORKERS', path: 'queue.workers', parse: integer(0, 64), description: 'Ingest workers in this process (0: accept webhooks only).' },
  { env: 'CALLVAULT_INGEST_THREADS', path: 'queue.threads', parse: integer(0, 64), description: 'Threads the serve command runs ingest workers in (default: one per CPU; 0: in the HTTP thread).' },
  { env: 'CALLVAULT_JOB_MAX_ATTEMPTS', path: 'queue.maxAttempts', parse: integer(1, 100), description: 'Attempts before a job is parked as failed.' },
  { env: 'CALLVAULT_JOB_BACKOFF_BASE_MS', path: 'queue.backoffBaseMs', parse: integer(1, 86_400_000), description: 'First retry delay; doubles each attempt.' },
  { env: 'CALLVAULT_JOB_BACKOFF_MAX_MS', path: 'queue.backoffMaxMs', parse: integer(1, 86_400_000), description: 'Longest retry delay.' },
  { env: 'CALLVAULT_JOB_LEASE_MS', path: 'queue.leaseMs', parse: integer(100, 3_600_000), description: 'How long a worker holds a job before another may take it over.' },
  { env: 'CALLVAULT_JOB_POLL_MS', path: 'queue.pollMs', parse: integer(10, 60_000), description: 'How often idle workers look for jobs (other instances\' webhooks, retries).' },
  { env: 'CALLVAULT_GENERIC_SECRET', path: 'providers.generic.secret', parse: text(false), secret: true, description: 'Generic webhook HMAC secret.' },
  { env: 'CALLVAULT_TWILIO_ACCOUNT_SID', path: 'providers.twilio.accountSid', parse: text(), description: 'Twilio account SID.' },
  { env: 'CALLVAULT_TWILIO_AUTH_TOKEN', path: 'providers.twilio.authToken', parse: text(), secret: true, description: 'Twilio auth token.' },
  { env: 'CALLVAULT_TWILIO_API_BASE', path: 'providers.twilio.apiBase', parse: httpUrl, description: 'Twilio REST API base.' },
  { env: 'CALLVAULT_TWILIO_DELETE_AT_SOURCE', path: 'providers.twilio.deleteAtSource', parse: boolean, description: 'Delete each recording at Twilio once it is stored and verified here.' },
  { env: 'CALLVAULT_TWILIO_ENCRYPTION_KEYS_DIR', path: 'providers.twilio.encryptionKeysDir', parse: text(), description: 'Folder of private keys for Twilio Voice Recording Encryption, one <public_key_sid>.pem each (mode 0600).' },
  { env: 'CALLVAULT_TELNYX_PUBLIC_KEY', path: 'providers.telnyx.publicKey', parse: ed25519PublicKey, description: 'Telnyx ed25519 public key (base64).' },
  { env: 'CALLVAULT_TELNYX_API_KEY', path: 'providers.telnyx.apiKey', parse: text(), secret: true, description: 'Telnyx API key (deletion at source, fresh download links).' },
  { env: 'CALLVAULT_TELNYX_API_BASE', path: 'providers.telnyx.apiBase', parse: httpUrl, description: 'Telnyx REST API base.' },
  { env: 'CALLVAULT_TELNYX_DELETE_AT_SOURCE', path: 'providers.telnyx.deleteAtSource', parse: boolean, description: 'Delete each recording at Telnyx once it is stored and verified here.' },
  { env: 'CALLVAULT_VONAGE_SIGNATURE_SECRET', path: 'providers.vonage.signatureSecret', parse: text(false), secret: true, description: 'Vonage signature secret.' },
  { env: 'CALLVAULT_VONAGE_APPLICATION_ID', path: 'providers.vonage.applicationId', parse: text(), description: 'Vonage application id.' },
  { env: 'CALLVAULT_VONAGE_PRIVATE_KEY', path: 'providers.vonage.privateKey', parse: privateKeyPem, secret: true, description: 'Vonage application private key (PEM).' },
  { env: 'CALLVAULT_RETENTION_PERIODS', path: 'retention.periods', parse: periods, merge: true, format: (v) => Object.entries(v as Record<string, { amount: number; unit: string }>).map(([k, p]) => `${k}=${p.amount}${p.unit}`).join(','), description: 'Retention per category, merged over the defaults (admin=28d,general=36m,clinical=36m).' },
  { env: 'CALLVAULT_RETENTION_DEFAULT_CATEGORY', path: 'retention.defaultCategory', parse: category, description: 'Category of a call that names none.' },
  { env: 'CALLVAULT_RETENTION_UNKNOWN_CATEGORY', path: 'retention.unknownCategory', parse: category, description: 'Category for calls naming an unconfigured category (empty: refuse them with E_UNKNOWN_CATEGORY).' },
  { env: 'CALLVAULT_RETENTION_SCHEDULE', path: 'retention.schedule', parse: cron, description: 'Cron expression for rolling destruction, or off.' },
  { env: 'CALLVAULT_RETENTION_BATCH_SIZE', path: 'retention.batchSize', parse: integer(1, 1000), description: 'Recordings destroyed per batch (S3 deletes up to 1,000 keys per request).' },
  { env: 'CALLVAULT_TIMEZONE', path: 'retention.timezone', parse: timezone, description: 'Time zone of the destruction schedule.' },
  { env: 'CALLVAULT_METRICS_TOKEN', path: 'metrics.token', parse: text(false), secret: true, description: 'When set, GET /metrics requires Authorization: Bearer <token> (Prometheus bearer_token).' },
  { env: 'CALLVAULT_SESSION_TTL_MINUTES', path: 'access.sessionTtlMinutes', parse: integer(1, 7 * 24 * 60), description: 'How long a sign-in token lasts (it is also revoked by logout).' },
  { env: 'CALLVAULT_LOGIN_MAX_FAILURES', path: 'access.loginMaxFailures', parse: integer(1, 100), description: 'Consecutive failed sign-ins that lock an account.' },
  { env: 'CALLVAULT_LOGIN_LOCKOUT_SECONDS', path: 'access.loginLockoutSeconds', parse: integer(1, 7 * 86_400), description: 'How long a locked account stays locked.' },
  { env: 'CALLVAULT_PASSWORD_MIN_LENGTH', path: 'access.passwordMinLength', parse: integer(8, 256), description: 'Shortest password accepted for a user.' },
  { env: 'CALLVAULT_PASSWORD_HASH_COST', path: 'access.passwordHashCost', parse: integer(10, 20), description: 'scrypt cost as log2(N) (r=8, p=3); existing hashes keep theirs and are upgraded at the next sign-in.' },
  { env: 'CALLVAULT_GRANT_DEFAULT_DAYS', path: 'access.grantDefaultDays', parse: integer(1, 365), description: 'How long an approved access request lasts when the approver gives no expiry.' },
  { env: 'CALLVAULT_GRANT_MAX_DAYS', path: 'access.grantMaxDays', parse: integer(1, 365), description: 'The longest expiry an approver may give a grant.' },
  { env: 'CALLVAULT_GRANT_EXEMPT_ROLES', path: 'access.grantExemptRoles', parse: exemptRoles, format: (v) => (v as string[]).join(','), description: 'Roles that may hear recordings they may see without a grant (comma-separated; never admin). Exports always need a grant.' },
  { env: 'CALLVAULT_EXPORT_MP3_BITRATE', path: 'export.mp3Bitrate', parse: mp3Bitrate, description: 'Bitrate of MP3 exports (24 kHz mono or stereo, constant bitrate).' },
  { env: 'CALLVAULT_MAX_CONCURRENT_EXPORTS', path: 'export.maxConcurrent', parse: integer(1, 64), description: 'MP3/WAV conversions (ffmpeg processes) at once per process; more are answered 503 E_BUSY.' },
  { env: 'CALLVAULT_FAILPOINT', path: 'failpoint', parse: oneOf(...FAILPOINTS), description: 'Testing only: the process kills itself at this point of ingest, destruction or key rotation (crash-safety tests).' },
];
