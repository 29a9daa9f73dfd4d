/**
 * docs/ERRORS.md is generated from the error registry (src/errors.ts), so the codes operators
 * read about are the codes the program emits. `npm run docs:errors` rewrites it; a unit test
 * fails when it is out of date.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ERROR_CODES } from '../src/errors';

export const ERRORS_DOC = path.resolve(__dirname, '..', __dirname.includes(`${path.sep}dist${path.sep}`) ? '..' : '.', 'docs', 'ERRORS.md');

export function renderErrorsDoc(): string {
  const lines = [
    '# Error codes',
    '',
    'Every error callvault returns over HTTP is `{ "code": "E_...", "message": "..." }` with the status below;',
    'the command line prints `callvault: E_...: message` and exits 1 (2 for configuration and usage errors);',
    'failed ingest jobs show the code as their last error (`callvault jobs list`).',
    '"Retried" says whether the ingest queue tries again by itself.',
    '',
    '| code | HTTP | retried | meaning |',
    '| --- | --- | --- | --- |',
    ...Object.entries(ERROR_CODES).map(([code, spec]) => `| \`${code}\` | ${spec.status} | ${spec.retryable ? 'yes' : 'no'} | ${spec.meaning} |`),
    '',
    'Failures of callvault\'s own storage or database (`E_STORAGE_UNAVAILABLE`, `E_STORAGE_BUCKET`,',
    '`E_STORAGE_CREDENTIALS`, `E_STORAGE_PERMISSION`, `E_DATABASE`) are retried for as long as the outage',
    'lasts without using up a job\'s attempts; fix the cause and the queue drains by itself.',
    '',
  ];
  return lines.join('\n');
}

if (require.main === module) {
  const doc = renderErrorsDoc();
  if (process.argv.includes('--write')) {
    fs.writeFileSync(ERRORS_DOC, doc);
    process.stdout.write(`wrote ${ERRORS_DOC}\n`);
  } else {
    process.stdout.write(doc);
  }
}
