/**
 * docs/ERRORS.md and docs/CONFIGURATION.md are generated from the code (the error registry in
 * src/errors.ts, the variable table in config/variables.ts), so what operators read is what the
 * program does. `npm run docs` rewrites them; a unit test fails when they are out of date.
 */
import fs from 'node:fs';
import path from 'node:path';
import defaults from '../config/defaults.json';
import { VARIABLES } from '../config/variables';
import { ERROR_CODES } from '../src/errors';

const DOCS = path.resolve(__dirname, '..', __dirname.includes(`${path.sep}dist${path.sep}`) ? '..' : '.', 'docs');
export const ERRORS_DOC = path.join(DOCS, 'ERRORS.md');
export const CONFIG_DOC = path.join(DOCS, 'CONFIGURATION.md');

const DERIVED_DEFAULTS: Record<string, string> = {
  CALLVAULT_DATABASE_URL: 'sqlite:<data>/callvault.sqlite',
  CALLVAULT_PUBLIC_URL: 'http://localhost:<PORT>',
  CALLVAULT_LOCAL_STORAGE_DIR: '<data>/objects',
  CALLVAULT_KEYS_DIR: '<data>/keys',
  CALLVAULT_INGEST_THREADS: 'one per CPU',
  CALLVAULT_S3_ENDPOINT: 'AWS',
  CALLVAULT_S3_ACCESS_KEY_ID: 'AWS default credential chain',
};

function defaultOf(dotted: string, env: string): string {
  if (DERIVED_DEFAULTS[env]) return DERIVED_DEFAULTS[env];
  const value = dotted.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown> | null)?.[part], defaults);
  if (value === null || value === undefined || value === '') return '';
  if (Array.isArray(value)) return value.join(',');
  if (typeof value === 'object') return Object.entries(value).map(([k, v]) => `${k}=${String(v)}`).join(',');
  return String(value);
}

export function renderConfigDoc(): string {
  const lines = [
    '# Configuration',
    '',
    'Defaults live in `config/defaults.json`; each variable below overrides one of them. The configuration is read',
    'and checked once at start-up: a missing or wrong value stops the program (exit 2) with a message naming the',
    'variable. Every secret may instead be given as a file: `NAME_FILE=/run/secrets/name` (a trailing newline is',
    'ignored). `callvault serve` logs the effective configuration, secrets masked, at debug level.',
    '',
    '| variable | meaning | default |',
    '| --- | --- | --- |',
    ...VARIABLES.map((v) => `| \`${v.env}\`${v.secret ? ' (secret; or `' + v.env + '_FILE`)' : ''} | ${v.description.replace(/\|/g, '\\|')} | ${defaultOf(v.path, v.env) ? `\`${defaultOf(v.path, v.env)}\`` : ''} |`),
    '',
  ];
  return lines.join('\n');
}

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
  fs.writeFileSync(ERRORS_DOC, renderErrorsDoc());
  fs.writeFileSync(CONFIG_DOC, renderConfigDoc());
  process.stdout.write(`wrote ${ERRORS_DOC} and ${CONFIG_DOC}\n`);
}
