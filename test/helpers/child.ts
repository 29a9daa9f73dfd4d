import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { eventually } from './test-app';

/**
 * `callvault` as a separate process (the built program in dist/), for what only a real process
 * can show: a kill -9 in the middle of work, exit codes, several instances.
 */

/** The built program, whether this file runs from test/ (jest) or from dist/test/ (benchmarks). */
export const CLI = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../src/cli/main.js' : '../../dist/src/cli/main.js');

export function assertBuilt(): void {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
}

export interface ChildServe {
  readonly process: ChildProcess;
  readonly url: string;
  readonly output: string[];
  waitReady(timeoutMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

function baseEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('CALLVAULT_')) clean[name] = value;
  return { ...clean, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env };
}

export function spawnServe(env: Record<string, string>): ChildServe {
  assertBuilt();
  const child = spawn(process.execPath, [CLI, 'serve'], { env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean)));
  child.stderr!.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${env.PORT}`;
  return {
    process: child,
    url,
    output,
    async waitReady(timeoutMs = 20_000) {
      await eventually(async () => {
        if (child.exitCode !== null) throw new Error(`callvault serve exited with ${child.exitCode}:\n${output.join('\n')}`);
        const response = await fetch(`${url}/readyz`).catch(() => null);
        return response?.status === 200;
      }, timeoutMs, `callvault serve on ${url} to be ready`);
    },
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs a callvault command to completion. */
export function runCli(args: string[], env: Record<string, string>, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  assertBuilt();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: baseEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
