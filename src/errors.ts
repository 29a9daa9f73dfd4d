/**
 * One registry of error codes. Every error the product raises on purpose is an AppError with a
 * stable code from this table; the HTTP layer maps it to its status and `{code, message}` body,
 * the CLI prints it, and docs/ERRORS.md lists the same table (a test keeps the two in sync).
 *
 * `retryable` tells the ingest queue whether trying again later can help (a provider outage) or
 * cannot (a bad signature, a file that is not audio).
 */

export interface ErrorSpec {
  readonly status: number;
  readonly retryable: boolean;
  readonly meaning: string;
}

export const ERROR_CODES = {
  // configuration and start-up
  E_CONFIG_INVALID: { status: 500, retryable: false, meaning: 'A configuration value is missing or wrong; the message names the variable.' },

  // request input
  E_BAD_REQUEST: { status: 400, retryable: false, meaning: 'The request is malformed (bad JSON, bad form, bad multipart).' },
  E_VALIDATION: { status: 400, retryable: false, meaning: 'A field is missing, has the wrong type or an unknown value; the message names it.' },
  E_PAYLOAD_TOO_LARGE: { status: 413, retryable: false, meaning: 'The request body is larger than the configured limit.' },
  E_UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false, meaning: 'The request content type is not accepted on this route.' },
  E_BUSY: { status: 503, retryable: true, meaning: 'Too many uploads, or MP3/WAV conversions, are in progress at once; retry shortly.' },
  E_NOT_FOUND: { status: 404, retryable: false, meaning: 'No such route.' },
  E_METRICS_TOKEN: { status: 401, retryable: false, meaning: 'GET /metrics needs the bearer token configured in CALLVAULT_METRICS_TOKEN.' },
  E_UNKNOWN_CATEGORY: { status: 422, retryable: false, meaning: 'The retention category is not configured.' },

  // webhook authenticity
  E_SIGNATURE_MISSING: { status: 401, retryable: false, meaning: 'The webhook carries no signature header.' },
  E_SIGNATURE_INVALID: { status: 401, retryable: false, meaning: 'The webhook signature does not match the body.' },
  E_SIGNATURE_EXPIRED: { status: 401, retryable: false, meaning: 'The webhook timestamp is outside the allowed window (a replay or a wrong clock).' },
  E_PROVIDER_NOT_CONFIGURED: { status: 503, retryable: false, meaning: 'The webhook source has no secret configured, so nothing from it can be accepted.' },

  // audio content
  E_AUDIO_UNSUPPORTED: { status: 415, retryable: false, meaning: 'The content is not a recognised audio format (WAV, MP3, Ogg, FLAC).' },
  E_AUDIO_TOO_LARGE: { status: 413, retryable: false, meaning: 'The audio is larger than the configured limit.' },
  E_AUDIO_MISSING: { status: 400, retryable: false, meaning: 'The event has no audio (no URL and no audio part).' },

  // fetching audio from a provider
  E_FETCH_PROTOCOL: { status: 422, retryable: false, meaning: 'The audio URL is not http or https.' },
  E_FETCH_HOST_NOT_ALLOWED: { status: 422, retryable: false, meaning: 'The audio URL host is not on the allowed list for its source.' },
  E_FETCH_ADDRESS_BLOCKED: { status: 422, retryable: false, meaning: 'The audio host resolves to a loopback, private, link-local or metadata address that is not explicitly allowed.' },
  E_FETCH_HTTP_STATUS: { status: 502, retryable: true, meaning: 'The provider answered the audio download with an error status.' },
  E_FETCH_NOT_FOUND: { status: 502, retryable: false, meaning: 'The provider no longer has the recording (404/410), or its download link has expired.' },
  E_FETCH_LINK_EXPIRED: { status: 502, retryable: false, meaning: 'The provider\'s download link has expired (Telnyx links last 10 minutes) and no fresh one could be had.' },
  E_FETCH_TIMEOUT: { status: 504, retryable: true, meaning: 'The provider did not answer or stopped sending within the time limit.' },
  E_FETCH_NETWORK: { status: 502, retryable: true, meaning: 'The provider could not be reached.' },
  E_FETCH_TRUNCATED: { status: 502, retryable: true, meaning: 'The download ended before the length the provider announced.' },
  E_FETCH_TOO_MANY_REDIRECTS: { status: 502, retryable: false, meaning: 'The audio URL redirects too many times.' },
  E_FETCH_CONTENT_TYPE: { status: 415, retryable: false, meaning: 'The provider answered with a content type that is not audio.' },

  // storage
  E_STORAGE_NOT_FOUND: { status: 404, retryable: false, meaning: 'The object is not in storage.' },
  E_STORAGE_KEY_INVALID: { status: 400, retryable: false, meaning: 'An object key is malformed or would escape the storage folder.' },
  E_STORAGE_UNAVAILABLE: { status: 503, retryable: true, meaning: 'The storage endpoint cannot be reached or failed.' },
  E_STORAGE_BUCKET: { status: 503, retryable: true, meaning: 'The configured bucket does not exist.' },
  E_STORAGE_CREDENTIALS: { status: 503, retryable: true, meaning: 'The storage access key id or secret is wrong.' },
  E_STORAGE_PERMISSION: { status: 503, retryable: true, meaning: 'The storage credentials are valid but lack a permission (put, get, delete or list).' },

  // encryption and keys
  E_CRYPTO_FORMAT: { status: 500, retryable: false, meaning: 'The stored object is not a callvault container or uses an unknown version.' },
  E_CRYPTO_AUTH: { status: 500, retryable: false, meaning: 'The stored object failed authentication: tampered, truncated, reordered or decrypted with the wrong key.' },
  E_CRYPTO_RANGE: { status: 416, retryable: false, meaning: 'The requested byte range is outside the recording.' },
  E_PROVIDER_KEY_UNKNOWN: { status: 500, retryable: false, meaning: 'The provider encrypted the recording with a key whose private part is not configured here.' },
  E_KEY_NOT_FOUND: { status: 500, retryable: false, meaning: 'The master key a recording was wrapped with is not in the key folder.' },
  E_KEY_PRIVATE_MISSING: { status: 403, retryable: false, meaning: 'This node holds only the RSA public key, so it can store but never decrypt.' },
  E_KEY_UNWRAP: { status: 500, retryable: false, meaning: 'A data key could not be unwrapped with the master key (wrong key or damaged).' },
  E_KEY_FILE: { status: 500, retryable: false, meaning: 'A key file is unreadable, malformed or has loose permissions.' },
  E_INTEGRITY: { status: 500, retryable: true, meaning: 'The stored object decrypts to different bytes than were ingested (SHA-256 mismatch).' },
  E_ESCROW_FORMAT: { status: 400, retryable: false, meaning: 'The key escrow file is not a PKCS#12 file callvault can read (or it is damaged, or holds no callvault key).' },
  E_ESCROW_PASSPHRASE: { status: 400, retryable: false, meaning: 'The passphrase does not open the PKCS#12 key escrow file (or the file was altered).' },

  // index and queue
  E_RECORDING_NOT_FOUND: { status: 404, retryable: false, meaning: 'No recording with that id.' },
  E_RECORDING_BEING_DESTROYED: { status: 409, retryable: false, meaning: 'The recording is past its retention date and a sweep has started destroying it; it can no longer be held or changed.' },
  E_RECORDING_DESTROYED: { status: 410, retryable: false, meaning: 'The recording was destroyed under its retention rule; only the record of its destruction remains.' },
  E_CONFLICT: { status: 409, retryable: true, meaning: 'The record changed while the request was being handled; try again.' },
  E_SWEEP_RUNNING: { status: 409, retryable: true, meaning: 'Another retention sweep holds the lease (on this or another instance).' },
  E_RECORDING_NOT_STORED: { status: 409, retryable: false, meaning: 'The recording has no audio (not retained, or destroyed).' },
  E_JOB_NOT_FOUND: { status: 404, retryable: false, meaning: 'No ingest job with that id.' },
  E_JOB_LEASE_LOST: { status: 409, retryable: true, meaning: 'Another worker took over the job (this worker was too slow); its work is discarded.' },
  E_IMPORT_METADATA: { status: 400, retryable: false, meaning: 'The bulk-import metadata CSV cannot be used: unreadable, malformed, or a required column is missing (the message names the line or column).' },
  E_IMPORT_DUPLICATE_ROW: { status: 400, retryable: false, meaning: 'A bulk-import CSV row repeats the recordingId of an earlier row; only the first is imported.' },
  E_NOT_READY_TIMEOUT: { status: 503, retryable: true, meaning: 'GET /readyz: the database or the storage did not answer within 3 seconds.' },
  E_DATABASE: { status: 503, retryable: true, meaning: 'The index database failed or is unreachable.' },

  // access: sign-in, roles, reasons, grants, releases
  E_AUTH_REQUIRED: { status: 401, retryable: false, meaning: 'The request carries no bearer token, or its token is unknown, expired or revoked (sign in again).' },
  E_AUTH_FAILED: { status: 401, retryable: false, meaning: 'Wrong username or password, or the account is locked for a while after repeated failures.' },
  E_FORBIDDEN: { status: 403, retryable: false, meaning: 'The signed-in user\'s role may not do this.' },
  E_REASON_REQUIRED: { status: 400, retryable: false, meaning: 'Searches and reads need a stated reason in the X-Access-Reason header (at least 5 characters).' },
  E_GRANT_REQUIRED: { status: 403, retryable: false, meaning: 'Hearing or exporting this recording needs a live grant (an approved access request covering it, not expired or revoked).' },
  E_RELEASE_NOT_AUTHORISED: { status: 403, retryable: false, meaning: 'A copy may leave only under a live grant that names a release purpose, requester and recipient.' },
  E_DPO_APPROVAL_REQUIRED: { status: 403, retryable: false, meaning: 'Police and disciplinary requests need the data protection officer\'s approval as well as the IG lead\'s.' },
  E_OWN_REQUEST: { status: 403, retryable: false, meaning: 'Nobody may approve or reject their own access request.' },
  E_ACCESS_REQUEST_NOT_FOUND: { status: 404, retryable: false, meaning: 'No access request with that id (or not one this user may see).' },
  E_ACCESS_REQUEST_DECIDED: { status: 409, retryable: false, meaning: 'The access request has already been decided (approved, rejected or revoked).' },
  E_USER_NOT_FOUND: { status: 404, retryable: false, meaning: 'No user with that name.' },
  E_USER_EXISTS: { status: 409, retryable: false, meaning: 'A user with that name already exists.' },
  E_PASSWORD_POLICY: { status: 400, retryable: false, meaning: 'The new password is too short or too long (CALLVAULT_PASSWORD_MIN_LENGTH).' },
  E_TRANSCODE: { status: 500, retryable: false, meaning: 'ffmpeg could not convert the recording (is ffmpeg installed?); the log line has its message.' },

  E_INTERNAL: { status: 500, retryable: true, meaning: 'An unexpected error; the log line with the request id has details.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** Safe, structured details for logs and API bodies (never secrets or personal data). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown>; retryable?: boolean; status?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code].status;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.details = options.details;
  }
}

export function isAppError(value: unknown, code?: ErrorCode): value is AppError {
  return value instanceof AppError && (code === undefined || value.code === code);
}

/**
 * Failures of callvault's own storage or database. The provider did nothing wrong, so a job
 * hit by one is retried (with capped back-off) for as long as the outage lasts, without using
 * up its attempts: an overnight storage outage must not turn a night's recordings into failed jobs.
 */
const OUR_SIDE: ReadonlySet<ErrorCode> = new Set(['E_STORAGE_UNAVAILABLE', 'E_STORAGE_BUCKET', 'E_STORAGE_CREDENTIALS', 'E_STORAGE_PERMISSION', 'E_DATABASE']);

export function isOurSideFailure(error: AppError): boolean {
  return OUR_SIDE.has(error.code);
}

/** Any thrown value as an AppError; unknown errors become E_INTERNAL with the original as cause. */
export function toAppError(value: unknown): AppError {
  if (value instanceof AppError) return value;
  const outage = databaseOutage(value);
  if (outage) return new AppError('E_DATABASE', `the index database is unavailable (${outage})`, { cause: value });
  const message = value instanceof Error ? value.message : String(value);
  return new AppError('E_INTERNAL', message, { cause: value });
}

/** SQLite result codes that mean the database could not be used just now (not a refused statement). */
const SQLITE_OUTAGE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL|NOMEM)/;
const NETWORK_FAILURE: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);
/** PostgreSQL SQLSTATE classes and codes of the same kind: connection, resources, shutdown, conflicts worth retrying. */
const PG_OUTAGE = /^(08|53|57P0[1-3]|40001|40P01)/;

/**
 * Why a raw error from the database driver means "unavailable" (so that work waits for the
 * database to come back instead of failing), or null. Constraint violations and syntax errors
 * are not outages: retrying them forever would only hide a defect.
 */
function databaseOutage(value: unknown): string | null {
  // Duck-typed: drivers' errors may come from another realm (worker threads, test sandboxes).
  if (typeof value !== 'object' || value === null) return null;
  const { name, code, message } = value as { name?: unknown; code?: unknown; message?: unknown };
  if (name === 'KnexTimeoutError') return 'no connection free in time';
  if (typeof code !== 'string') return typeof message === 'string' && /Connection terminated|connection is closed/i.test(message) ? 'connection lost' : null;
  if (SQLITE_OUTAGE.test(code)) return code;
  // Storage and provider connections type their own failures where they are made, so a raw
  // network error that reaches this point is the database driver's (pg does not wrap them).
  if (NETWORK_FAILURE.has(code)) return code;
  // pg errors carry a five-character SQLSTATE and a severity.
  if ('severity' in value && PG_OUTAGE.test(code)) return `SQLSTATE ${code}`;
  return null;
}
