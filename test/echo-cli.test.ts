/**
 * `t3-probe echo` as shipped (dist/): the new bounds as flags, the token from a file or the
 * environment and never printed, and errors that name the flag.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import WebSocket from 'ws';
import { CLI } from './helpers/cli.js';
import { waitFor } from './helpers/wait.js';

const TOKEN = 'cli-secret-0123456789abcdef';

interface Run {
  readonly output: () => string;
  readonly exit: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

function echo(t: TestContext, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  assert.ok(existsSync(CLI), `${CLI} is missing: run "npm run build" first`);
  const child = spawn(process.execPath, [CLI, 'echo', '--listen', '127.0.0.1:0', ...args], {
    env: { ...process.env, T3PROBE_ECHO_TOKEN: '', ...env },
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { output: () => output, exit, kill: (signal) => child.kill(signal) };
}

async function listeningPort(run: Run): Promise<number> {
  const line = await waitFor('the echo server to listen', () => run.output().split('\n').find((l) => l.includes('echo server listening')));
  const match = /ws:\/\/127\.0\.0\.1:(\d+)\//.exec(line);
  assert.ok(match, line);
  return Number(match[1]);
}

async function tokenFile(t: TestContext, content: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 't3-echo-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'token');
  await writeFile(file, content, { mode: 0o600 });
  return file;
}

async function opens(url: string, headers: Record<string, string> = {}): Promise<boolean> {
  const ws = new WebSocket(url, { headers });
  try {
    await once(ws, 'open');
    return true;
  } catch {
    return false;
  } finally {
    ws.terminate();
  }
}

void test('echo --token-file and the bounds as flags; the token is never printed', { timeout: 30_000 }, async (t) => {
  const file = await tokenFile(t, `${TOKEN}\n`);
  const run = echo(t, ['--token-file', file, '--handshake-timeout', '400ms', '--max-connections-per-ip', '1', '--log-level', 'debug']);
  const port = await listeningPort(run);
  const url = `ws://127.0.0.1:${port}/probe/ws`;

  assert.equal(await opens(url), false);
  assert.equal(await opens(url, { Authorization: `Bearer ${TOKEN}` }), true);

  const start = performance.now();
  const silent = connect({ port, host: '127.0.0.1' });
  silent.on('error', () => {});
  silent.resume();
  // Not events.once(): it rejects on 'error', and a destroyed connection may read ECONNRESET.
  await new Promise((resolve) => silent.once('close', resolve));
  const ms = performance.now() - start;
  assert.ok(ms >= 350 && ms < 2_000, `a silent connection lived ${ms.toFixed(0)} ms`);

  run.kill('SIGTERM');
  assert.equal(await run.exit, 0);
  assert.ok(!run.output().includes(TOKEN), 'the token appears in the output');
  assert.match(run.output(), /"token":true/);
  assert.match(run.output(), /"refusedToken":1/);
  assert.match(run.output(), /"handshakeTimeouts":1/);
});

void test('echo takes the token from T3PROBE_ECHO_TOKEN', { timeout: 30_000 }, async (t) => {
  const run = echo(t, [], { T3PROBE_ECHO_TOKEN: TOKEN });
  const url = `ws://127.0.0.1:${await listeningPort(run)}/probe/ws?token=${TOKEN}`;
  assert.equal(await opens(url), true);
  assert.equal(await opens(url.replace(TOKEN, 'x'.repeat(TOKEN.length))), false);
  run.kill('SIGTERM');
  assert.equal(await run.exit, 0);
  assert.ok(!run.output().includes(TOKEN));
});

void test('echo usage errors name the flag and never quote the token', { timeout: 30_000 }, async (t) => {
  const file = await tokenFile(t, TOKEN);
  const shortFile = await tokenFile(t, 'tooshort');
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['--token-file', file], { T3PROBE_ECHO_TOKEN: TOKEN }, /--token-file and T3PROBE_ECHO_TOKEN are both set/],
    [['--token-file', shortFile], {}, /the token \(--token-file or T3PROBE_ECHO_TOKEN\): must be at least 16 characters/],
    [['--token-file', '/nonexistent/token'], {}, /--token-file: cannot read "\/nonexistent\/token": ENOENT/],
    [['--allowed-origin', 'https://ok.example/'], {}, /--allowed-origin\[0\]: must be an origin.*did you mean "https:\/\/ok\.example"/],
    [['--handshake-timeout', '0s'], {}, /--handshake-timeout: must be a duration greater than 0/],
    [['--message-burst', 'many'], {}, /--message-burst: must be a positive integer/],
  ];
  for (const [args, env, message] of cases) {
    const run = echo(t, args, env);
    assert.equal(await run.exit, 2, args.join(' '));
    assert.match(run.output(), message);
    assert.ok(!run.output().includes('tooshort') && !run.output().includes(TOKEN), run.output());
  }
});
