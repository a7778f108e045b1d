/** Run the built CLI (dist/cli.js, as shipped) to completion and collect its output. */
import { collectOutput } from './collect.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export async function runCli(t: TestContext, args: readonly string[]): Promise<CliResult> {
  assert.ok(existsSync(CLI), `${CLI} is missing: run "npm run build" first`);
  const child = spawn(process.execPath, [CLI, ...args]);
  t.after(() => child.kill('SIGKILL'));
  return collectOutput(child);
}

/** A long-running CLI process (run, echo) whose output is collected while it runs. */
export interface CliProcess {
  readonly child: ReturnType<typeof spawn>;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (null when a signal killed it). */
  readonly exit: Promise<number | null>;
  /** The JSON log lines on stdout so far. */
  logs(): { msg: string; [key: string]: unknown }[];
}

export function startCli(t: TestContext, args: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  assert.ok(existsSync(CLI), `${CLI} is missing: run "npm run build" first`);
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit,
    logs: () =>
      out
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { msg: string; [key: string]: unknown }),
  };
}
