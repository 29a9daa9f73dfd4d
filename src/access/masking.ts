import { maskPhoneNumber } from '../log/redact';

/**
 * What the audit trail keeps of the personal data in a search or a request: enough for a data
 * protection officer to see what was looked for, not a copy of the data itself. Numbers are
 * masked as in the logs (country prefix and last three digits); names keep each word's initial
 * and length ("J*** P******"). The recordings a search returned are kept by id, which is how an
 * investigation finds who saw a given call.
 */

export function maskNumber(number: string | null | undefined): string | undefined {
  return number ? maskPhoneNumber(number) : undefined;
}

export function maskName(name: string | null | undefined): string | undefined {
  if (!name) return undefined;
  return name
    .trim()
    .split(/\s+/)
    .map((word) => {
      const letters = [...word];
      return letters.length === 0 ? '' : `${letters[0]}${'*'.repeat(letters.length - 1)}`;
    })
    .join(' ');
}
