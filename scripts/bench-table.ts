import os from 'node:os';

/**
 * One row per figure: the figure, its anchor measured in the same run, the ratio, the target.
 * Every bench-* script prints with this, and `npm run bench` gathers the rows into one table.
 */
export interface BenchRow {
  readonly figure: string;
  readonly value: number;
  readonly anchorName?: string;
  readonly anchor?: number;
  readonly target: string;
  readonly pass: boolean;
}

function format(value: number): string {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function machineLine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.cpus().length} cores (${cpu.trim()}), ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

export function printTable(title: string, rows: readonly BenchRow[], out: (text: string) => void = (text) => process.stdout.write(text)): void {
  const header = ['figure', 'value', 'anchor (same run)', 'ratio', 'target', 'result'];
  const lines = rows.map((row) => [
    row.figure,
    format(row.value),
    row.anchor !== undefined ? `${format(row.anchor)} ${row.anchorName ?? ''}`.trim() : '-',
    row.anchor !== undefined && row.anchor > 0 ? `${((row.value / row.anchor) * 100).toFixed(0)}%` : '-',
    row.target,
    row.pass ? 'PASS' : 'MISS',
  ]);
  const widths = header.map((cell, i) => Math.max(cell.length, ...lines.map((line) => line[i]!.length)));
  const render = (cells: string[]): string => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  out(`\n${title} on ${machineLine()}\n`);
  out(`${render(header)}\n`);
  out(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |\n`);
  for (const line of lines) out(`${render(line)}\n`);
}
