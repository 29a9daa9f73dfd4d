import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import defaults from './defaults.json';
import { FAILPOINTS, VARIABLES, type VariableSpec } from './variables';
import { parsePeriod, type RetentionPeriod } from '../src/retention/period';

/**
 * Configuration is read once, at start-up: `config/defaults.json`, then the `CALLVAULT_*`
 * variables (every secret also as `NAME_FILE`), then derived defaults (paths under the data
 * folder). Every problem is collected and reported with the variable that causes it, so an
 * operator fixes them all in one go rather than one per restart.
 */

const period = z.string().refine((text) => parsePeriod(text) !== null, 'must look like 28d, 4w, 36m or 1y');
const category = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be lower-case letters, digits, - or _');

const schema = z.object({
  port: z.number().int().min(0).max(65535),
  dataDir: z.string().min(1),
  databaseUrl: z.string().nullable(),
  autoMigrate: z.boolean(),
  sqliteSynchronous: z.enum(['FULL', 'NORMAL']),
  logLevel: z.enum(['error', 'warn', 'info', 'debug']),
  publicUrl: z.string().nullable(),
  trustProxy: z.string().nullable(),
  defaultCountry: z.string().regex(/^[A-Z]{2}$/),
  storage: z.object({
    kind: z.enum(['local', 's3']),
    localDir: z.string().nullable(),
    s3: z.object({
      endpoint: z.string().nullable(),
      bucket: z.string().nullable(),
      region: z.string().min(1),
      accessKeyId: z.string().nullable(),
      secretAccessKey: z.string().nullable(),
      forcePathStyle: z.boolean(),
      checksum: z.enum(['when_supported', 'when_required']),
      prefix: z.string(),
      partSizeMb: z.number().int().min(5).max(512),
      queueSize: z.number().int().min(1).max(16),
    }),
  }),
  keys: z.object({
    kek: z.enum(['local', 'rsa']),
    dir: z.string().nullable(),
    autoGenerate: z.boolean(),
  }),
  crypto: z.object({
    chunkSize: z.number().int().min(1024).max(16 * 1024 * 1024),
  }),
  limits: z.object({
    webhookBodyBytes: z.number().int().min(1024),
    audioBytes: z.number().int().min(1024),
    concurrentUploads: z.number().int().min(1).max(256),
    spoolBytes: z.number().int().min(1024),
  }),
  fetch: z.object({
    allowHosts: z.array(z.string().min(1)),
    timeoutMs: z.number().int().min(100),
    deadlineMs: z.number().int().min(1000),
    maxRedirects: z.number().int().min(0).max(10),
  }),
  queue: z.object({
    workers: z.number().int().min(0).max(64),
    threads: z.number().int().min(0).max(64).nullable(),
    maxAttempts: z.number().int().min(1).max(100),
    backoffBaseMs: z.number().int().min(1),
    backoffMaxMs: z.number().int().min(1),
    leaseMs: z.number().int().min(100),
    pollMs: z.number().int().min(10),
  }),
  providers: z.object({
    generic: z.object({ secret: z.string().nullable() }),
    twilio: z.object({
      accountSid: z.string().nullable(),
      authToken: z.string().nullable(),
      apiBase: z.string().min(1),
      deleteAtSource: z.boolean(),
      encryptionKeysDir: z.string().nullable(),
    }),
    telnyx: z.object({ publicKey: z.string().nullable(), apiKey: z.string().nullable(), apiBase: z.string().min(1), deleteAtSource: z.boolean() }),
    vonage: z.object({ signatureSecret: z.string().nullable(), applicationId: z.string().nullable(), privateKey: z.string().nullable() }),
  }),
  metrics: z.object({ token: z.string().nullable() }),
  access: z.object({
    sessionTtlMinutes: z.number().int().min(1),
    loginMaxFailures: z.number().int().min(1),
    loginLockoutSeconds: z.number().int().min(1),
    passwordMinLength: z.number().int().min(8).max(256),
    passwordHashCost: z.number().int().min(10).max(20),
    grantDefaultDays: z.number().int().min(1),
    grantMaxDays: z.number().int().min(1),
    grantExemptRoles: z.array(z.enum(['manager', 'ig_lead', 'dpo', 'staff'])),
  }),
  export: z.object({
    mp3Bitrate: z.string().regex(/^\d+k$/),
    maxConcurrent: z.number().int().min(1).max(64),
  }),
  failpoint: z.enum(FAILPOINTS).nullable(),
  retention: z.object({
    periods: z.record(category, period),
    defaultCategory: category,
    unknownCategory: category.nullable(),
    schedule: z.string().min(1),
    timezone: z.string().min(1),
    batchSize: z.number().int().min(1).max(1000),
  }),
});

type RawConfig = z.infer<typeof schema>;

/** The validated configuration; paths are absolute and every derived default is filled in. */
export interface Config extends Omit<RawConfig, 'databaseUrl' | 'publicUrl' | 'storage' | 'keys' | 'retention'> {
  databaseUrl: string;
  publicUrl: string;
  storage: RawConfig['storage'] & { localDir: string };
  keys: RawConfig['keys'] & { dir: string };
  retention: Omit<RawConfig['retention'], 'periods'> & { periods: Record<string, RetentionPeriod> };
}

export interface ConfigProblem {
  /** The variable (or defaults.json path) to fix. */
  readonly key: string;
  readonly problem: string;
}

export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p.key}: ${p.problem}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export type Environment = Record<string, string | undefined>;

export interface LoadOptions {
  /** Relative paths are resolved against this folder (the current directory by default). */
  cwd?: string;
}

export function loadConfig(env: Environment = process.env, options: LoadOptions = {}): Config {
  const cwd = options.cwd ?? process.cwd();
  const problems: ConfigProblem[] = [];
  const raw = structuredClone(defaults) as unknown as Record<string, unknown>;

  for (const spec of VARIABLES) {
    const text = readVariable(spec, env, cwd, problems);
    if (text === undefined) continue;
    const parsed = spec.parse(text);
    if (!parsed.ok) {
      problems.push({ key: spec.env, problem: parsed.problem });
      continue;
    }
    setPath(raw, spec.path, spec.merge ? { ...(getPath(raw, spec.path) as object), ...(parsed.value as object) } : parsed.value);
  }

  const checked = schema.safeParse(raw);
  if (!checked.success) {
    for (const issue of checked.error.issues) {
      const dotted = issue.path.join('.');
      const spec = VARIABLES.find((v) => dotted === v.path || dotted.startsWith(`${v.path}.`));
      problems.push({ key: spec ? spec.env : `config/defaults.json ${dotted}`, problem: issue.message });
    }
    throw new ConfigError(problems);
  }
  const config = derive(checked.data, cwd, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

function readVariable(spec: VariableSpec, env: Environment, cwd: string, problems: ConfigProblem[]): string | undefined {
  const direct = nonEmpty(env[spec.env]);
  const fileVar = `${spec.env}_FILE`;
  const fromFile = spec.secret ? nonEmpty(env[fileVar]) : undefined;
  if (direct !== undefined && fromFile !== undefined) {
    problems.push({ key: spec.env, problem: `set either ${spec.env} or ${fileVar}, not both` });
    return undefined;
  }
  if (fromFile === undefined) return direct;
  try {
    // Secret files usually end with a newline written by the editor or `echo`; it is not part of the secret.
    return fs.readFileSync(path.resolve(cwd, fromFile), 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    problems.push({ key: fileVar, problem: `cannot read ${fromFile}: ${(error as NodeJS.ErrnoException).code ?? 'error'}` });
    return undefined;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function getPath(source: Record<string, unknown>, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown> | null)?.[part], source);
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

function derive(raw: RawConfig, cwd: string, problems: ConfigProblem[]): Config {
  const dataDir = path.resolve(cwd, raw.dataDir);
  const resolveIn = (value: string | null, fallback: string): string => (value ? path.resolve(cwd, value) : fallback);

  const databaseUrl = raw.databaseUrl ?? `sqlite:${path.join(dataDir, 'callvault.sqlite')}`;
  const storage = { ...raw.storage, localDir: resolveIn(raw.storage.localDir, path.join(dataDir, 'objects')) };
  const keys = { ...raw.keys, dir: resolveIn(raw.keys.dir, path.join(dataDir, 'keys')) };
  const providers = {
    ...raw.providers,
    twilio: { ...raw.providers.twilio, encryptionKeysDir: raw.providers.twilio.encryptionKeysDir ? path.resolve(cwd, raw.providers.twilio.encryptionKeysDir) : null },
  };
  const periods: Record<string, RetentionPeriod> = {};
  for (const [name, text] of Object.entries(raw.retention.periods)) periods[name] = parsePeriod(text)!;

  if (storage.kind === 's3') {
    if (!storage.s3.bucket) problems.push({ key: 'CALLVAULT_S3_BUCKET', problem: 'required when CALLVAULT_STORAGE=s3' });
    if (storage.s3.accessKeyId && !storage.s3.secretAccessKey) {
      problems.push({ key: 'CALLVAULT_S3_SECRET_ACCESS_KEY', problem: 'required when CALLVAULT_S3_ACCESS_KEY_ID is set' });
    }
  }
  if (!Object.hasOwn(periods, raw.retention.defaultCategory)) {
    problems.push({ key: 'CALLVAULT_RETENTION_DEFAULT_CATEGORY', problem: `"${raw.retention.defaultCategory}" has no period in CALLVAULT_RETENTION_PERIODS` });
  }
  if (raw.retention.unknownCategory !== null && !Object.hasOwn(periods, raw.retention.unknownCategory)) {
    problems.push({ key: 'CALLVAULT_RETENTION_UNKNOWN_CATEGORY', problem: `"${raw.retention.unknownCategory}" has no period in CALLVAULT_RETENTION_PERIODS` });
  }
  if (raw.providers.twilio.deleteAtSource && !raw.providers.twilio.authToken) {
    problems.push({ key: 'CALLVAULT_TWILIO_DELETE_AT_SOURCE', problem: 'needs CALLVAULT_TWILIO_AUTH_TOKEN' });
  }
  if (raw.providers.telnyx.deleteAtSource && !raw.providers.telnyx.apiKey) {
    problems.push({ key: 'CALLVAULT_TELNYX_DELETE_AT_SOURCE', problem: 'needs CALLVAULT_TELNYX_API_KEY' });
  }
  if (raw.providers.vonage.signatureSecret && !(raw.providers.vonage.applicationId && raw.providers.vonage.privateKey)) {
    problems.push({ key: 'CALLVAULT_VONAGE_PRIVATE_KEY', problem: 'Vonage recordings are fetched with the application key: set CALLVAULT_VONAGE_APPLICATION_ID and CALLVAULT_VONAGE_PRIVATE_KEY too' });
  }
  if (raw.access.grantDefaultDays > raw.access.grantMaxDays) {
    problems.push({ key: 'CALLVAULT_GRANT_DEFAULT_DAYS', problem: 'must be at most CALLVAULT_GRANT_MAX_DAYS' });
  }
  if (raw.queue.backoffMaxMs < raw.queue.backoffBaseMs) {
    problems.push({ key: 'CALLVAULT_JOB_BACKOFF_MAX_MS', problem: 'must be at least CALLVAULT_JOB_BACKOFF_BASE_MS' });
  }

  return {
    ...raw,
    dataDir,
    databaseUrl: absoluteSqliteUrl(databaseUrl, cwd),
    publicUrl: (raw.publicUrl ?? `http://localhost:${raw.port}`).replace(/\/+$/, ''),
    storage,
    keys,
    providers,
    retention: { ...raw.retention, periods },
  };
}

function absoluteSqliteUrl(url: string, cwd: string): string {
  if (!url.startsWith('sqlite:')) return url;
  const file = url.slice('sqlite:'.length);
  return file === ':memory:' ? url : `sqlite:${path.resolve(cwd, file)}`;
}

/** The effective configuration with every secret masked; for `config check` and start-up logs. */
export function describeConfig(config: Config): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of VARIABLES) {
    const value = getPath(config as unknown as Record<string, unknown>, spec.path);
    if (value === null || value === undefined) continue;
    out[spec.env] = spec.secret ? '********' : spec.format ? spec.format(value) : String(value);
  }
  out.CALLVAULT_DATABASE_URL = maskUrlPassword(config.databaseUrl);
  return out;
}

function maskUrlPassword(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1********@');
}

export { VARIABLES } from './variables';
