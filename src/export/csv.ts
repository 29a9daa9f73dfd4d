/**
 * CSV for people who open it in a spreadsheet: RFC 4180 quoting, CRLF line ends, and cells that
 * a spreadsheet would run as a formula (starting with = + - @, tab or carriage return) prefixed
 * with an apostrophe. A phone number "+44..." therefore reads "'+44...": shown as text, never run.
 */
export function csvLine(cells: ReadonlyArray<unknown>): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}

function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? '' : value instanceof Date ? value.toISOString() : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
