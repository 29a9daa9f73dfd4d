/**
 * What must never reach a log line, in one place. Keys that name a secret lose their value;
 * phone numbers keep only their country prefix and last three digits (enough to tell two calls
 * apart when debugging, not enough to identify a caller); URLs lose credentials and query strings
 * (presigned URLs and provider tokens live there).
 */

const SECRET_KEY = /(secret|password|passwd|token|authorization|signature|api[-_]?key|private[-_]?key|cookie|wrapped[-_]?key|data[-_]?key|cek)/i;
const PHONE_KEY = /^(from|to|number|caller|called|externalNumber|fromNumber|toNumber|from_number|to_number)$/i;
const E164_IN_TEXT = /\+\d{7,15}\b/g;
const URL_IN_TEXT = /\b(https?:\/\/)([^\s/?#@]+@)?([^\s/?#]+)([^\s?#]*)(\?[^\s#]*)?/gi;
const MAX_DEPTH = 6;

export function maskPhoneNumber(value: string): string {
  const digits = value.replace(/[^\d+]/g, '');
  if (digits.length <= 4) return '***';
  const prefix = digits.startsWith('+') ? digits.slice(0, 3) : '';
  return `${prefix}***${digits.slice(-3)}`;
}

export function redactText(text: string): string {
  return text
    .replace(URL_IN_TEXT, (_match, scheme: string, _userinfo: string | undefined, host: string, path: string, query: string | undefined) =>
      `${scheme}${host}${path}${query ? '?[redacted]' : ''}`)
    .replace(E164_IN_TEXT, (number) => maskPhoneNumber(number));
}

export function redactLogValue(key: string, value: unknown, depth = 0): unknown {
  if (value === null || value === undefined) return value;
  if (SECRET_KEY.test(key)) return '[redacted]';
  if (typeof value === 'string') {
    return PHONE_KEY.test(key) ? maskPhoneNumber(value) : redactText(value);
  }
  if (depth >= MAX_DEPTH) return '[truncated]';
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`;
  if (Array.isArray(value)) return value.map((item) => redactLogValue(key, item, depth + 1));
  if (value instanceof Error) {
    return { name: value.name, message: redactText(value.message), code: (value as { code?: unknown }).code };
  }
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [innerKey, innerValue] of Object.entries(value as Record<string, unknown>)) {
      out[innerKey] = redactLogValue(innerKey, innerValue, depth + 1);
    }
    return out;
  }
  return value;
}
