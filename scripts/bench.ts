/**
 * `npm run bench`: every scripts/bench-* in turn (each in its own process, so one's memory and
 * caches do not colour the next), then one table of every figure beside its anchor, the ratio
 * and the target. Pass names to run some: `npm run bench -- crypto retention`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { printTable, type BenchRow } from './bench-table';

function benches(): string[] {
  return fs
    .readdirSync(__dirname)
    .map((name) => /^bench-(.+)\.js$/.exec(name)?.[1])
    .filter((name): name is string => name !== undefined && name !== 'table')
    .sort();
}

function main(): void {
  const wanted = process.argv.slice(2);
  const names = wanted.length > 0 ? wanted : benches();
  const rows: BenchRow[] = [];
  const failures: string[] = [];
  for (const name of names) {
    process.stdout.write(`\n== bench-${name}\n`);
    const result = spawnSync(process.execPath, [path.join(__dirname, `bench-${name}.js`), '--json'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      maxBuffer: 64 * 1024 * 1024,
    });
    const lines = (result.stdout ?? '').trim().split('\n');
    process.stdout.write(`${lines.slice(0, -1).join('\n')}\n`);
    try {
      const benchRows = JSON.parse(lines[lines.length - 1] ?? '') as BenchRow[];
      rows.push(...benchRows.map((row) => ({ ...row, figure: `${name}: ${row.figure}` })));
    } catch {
      failures.push(`bench-${name} exited with ${result.status} and printed no figures`);
    }
  }
  printTable('all benchmarks', rows);
  for (const failure of failures) process.stdout.write(`FAILED: ${failure}\n`);
  if (failures.length > 0) process.exit(1);
}

main();
