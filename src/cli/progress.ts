import cliProgress from 'cli-progress';

/**
 * Progress of long commands (rotation, verification, bulk import) on standard error, so that
 * standard output stays the command's result. On a terminal: a bar with rate and ETA. Elsewhere
 * (a cron job, a log file, a test): one plain line every `logEveryMs`, so a long run still shows
 * it is moving without flooding the log.
 */

export interface Progress {
  /** Adds `amount` (items, or bytes when counting bytes) and, optionally, one finished item. */
  advance(amount?: number, items?: number): void;
  stop(): void;
}

export interface ProgressOptions {
  readonly label: string;
  readonly total: number;
  /** What `total` counts: items (recordings) or bytes (also counting items, for the label). */
  readonly unit?: 'items' | 'bytes';
  readonly totalItems?: number;
  readonly stream?: NodeJS.WriteStream;
  readonly logEveryMs?: number;
}

export function startProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const started = Date.now();
  let value = 0;
  let items = 0;
  const payload = (): Record<string, string> => {
    const seconds = Math.max(0.001, (Date.now() - started) / 1000);
    if (options.unit === 'bytes') {
      return {
        done: `${formatBytes(value)}/${formatBytes(options.total)}${options.totalItems !== undefined ? ` (${items}/${options.totalItems} files)` : ''}`,
        rate: `${formatBytes(value / seconds)}/s`,
      };
    }
    return { done: `${value}/${options.total}`, rate: `${(value / seconds).toFixed(1)}/s` };
  };
  const bar = new cliProgress.SingleBar({
    stream,
    format: `${options.label} [{bar}] {percentage}% | {done} | {rate} | ETA {eta_formatted}`,
    barsize: 30,
    hideCursor: false,
    noTTYOutput: true,
    notTTYSchedule: options.logEveryMs ?? 10_000,
    etaBuffer: 50,
    etaAsynchronousUpdate: true,
  });
  bar.start(Math.max(options.total, 1), 0, payload());
  return {
    advance(amount = 1, itemCount = options.unit === 'bytes' ? 0 : amount) {
      value += amount;
      items += itemCount;
      bar.update(value, payload());
    },
    stop() {
      bar.update(value, payload());
      bar.stop();
    },
  };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
