import { AppError } from '../errors';

/**
 * One HTTP byte range (RFC 9110 14.1.2) over a body of `size` bytes, as inclusive offsets;
 * null when there is no Range header, or it asks for several ranges (then the whole body is sent,
 * as the RFC allows). A range that cannot be satisfied is E_CRYPTO_RANGE (416).
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) {
    if (/^bytes=.*,/.test(header.trim())) return null;
    throw new AppError('E_CRYPTO_RANGE', `Range must look like bytes=0-1023, got "${header.slice(0, 40)}"`);
  }
  const [, first, last] = match;
  if (first === '' && last === '') throw new AppError('E_CRYPTO_RANGE', 'Range bytes=- names no bytes');
  if (size === 0) throw new AppError('E_CRYPTO_RANGE', 'the recording is empty');
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) throw new AppError('E_CRYPTO_RANGE', 'Range bytes=-0 names no bytes');
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || start > end) throw new AppError('E_CRYPTO_RANGE', `bytes ${start}-${last} are outside the recording (${size} bytes)`);
  return { start, end };
}
