/**
 * The container image, built from the real Dockerfile and run with podman. No registry is
 * reachable, so scripts/build-image.mjs first makes a local stand-in for the Dockerfile's FROM
 * (Debian from mmdebstrap plus the official Node binary and npm from the npm registry, cached by
 * version outside the clone), then builds the Dockerfile with --pull=never.
 *
 * Figures (image size, build times, start-up to /readyz, RSS) are printed as test diagnostics.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { test, type TestContext } from 'node:test';
import { parse } from 'yaml';
import { httpText } from '../helpers/http-text.js';
import {
  buildImage,
  childPids,
  CONTAINER_PREFIX,
  podman,
  podmanRun,
  procStatus,
  removeStaleContainers,
  requireImageTools,
  ROOT,
  RUN_LIMITS,
  type BuildResult,
} from '../helpers/podman.js';
import { freePort } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

const TAG = 't3-probe:test';
const version = (JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let built: Promise<BuildResult> | undefined;
/** The first test that needs the image builds it; the rest reuse that build. */
const image = async (): Promise<string> => (await (built ??= buildImage(TAG))).image;

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** A detached container, removed after the test whatever happens. */
async function startContainer(t: TestContext, name: string, args: readonly string[]): Promise<string> {
  await podman(['rm', '-f', '--ignore', name]);
  t.after(() => podman(['rm', '-f', '--ignore', name]));
  await podman(['run', '-d', '--name', name, '--network', 'host', ...RUN_LIMITS, ...args]);
  return name;
}

/** SIGTERM via `podman stop -t 5`: podman would SIGKILL (exit 137) had it not stopped in 5 s. */
async function stopWithSigterm(name: string): Promise<{ exitCode: number; ms: number; logs: string }> {
  const start = performance.now();
  await podman(['stop', '-t', '5', name]);
  const ms = performance.now() - start;
  const exitCode = Number((await podman(['inspect', '--format', '{{.State.ExitCode}}', name])).stdout.trim());
  const { stdout, stderr } = await podman(['logs', name]);
  return { exitCode, ms, logs: stdout + stderr };
}

test('the real Dockerfile builds on a local stand-in for its FROM, and a second build reuses every cached input', { timeout: 1_500_000 }, async (t) => {
  if (!requireImageTools(t)) return;
  const first = await (built ??= buildImage(TAG));
  assert.equal(first.image, TAG);
  assert.match(first.base, /^node:24-[a-z]+-slim$/);
  t.diagnostic(`first build (base ${first.baseSource}): ${JSON.stringify(first.seconds)}`);
  // Warm: the stand-in is reused and every Dockerfile step comes from podman's layer cache, so
  // the image is the very same one.
  const again = await buildImage(TAG);
  assert.ok(again.baseSource === 'reused' || again.baseSource === 'existing', again.baseSource);
  assert.equal(again.id, first.id, 'a rebuild with nothing changed is the same image');
  t.diagnostic(`warm build: ${again.seconds.total} s`);
  const size = Number((await podman(['image', 'inspect', '--format', '{{.Size}}', TAG])).stdout.trim());
  assert.ok(size > 50 * 1024 * 1024, `${size} bytes is too small to hold Node`);
  t.diagnostic(`image size: ${mib(size)} (${size} bytes)`);
});

test('the image runs Node 24 as user 10001: --version, run --check on the shipped config, and echo', { timeout: 1_500_000 }, async (t) => {
  if (!requireImageTools(t)) return;
  const tag = await image();
  assert.equal((await podman(['image', 'inspect', '--format', '{{.Config.User}}', tag])).stdout.trim(), '10001:10001');
  // The build's proxy CA hook (ARG NODE_EXTRA_CA_CERTS in the build stages) stays out of the image.
  const env = (await podman(['image', 'inspect', '--format', '{{json .Config.Env}}', tag])).stdout;
  assert.match(env, /"NODE_ENV=production"/);
  assert.doesNotMatch(env, /NODE_EXTRA_CA_CERTS/);

  const node = await podmanRun(['--entrypoint', 'node', tag, '--version']);
  assert.equal(node.code, 0, node.stderr);
  assert.match(node.stdout, /^v24\.\d+\.\d+\n$/);
  const id = await podmanRun(['--entrypoint', 'sh', tag, '-c', 'id -u; id -g']);
  assert.equal(id.code, 0, id.stderr);
  assert.equal(id.stdout, '10001\n10001\n');

  const cliVersion = await podmanRun([tag, '--version']);
  assert.equal(cliVersion.code, 0, cliVersion.stderr);
  assert.equal(cliVersion.stdout, `${version}\n`);

  // The config the Kubernetes ConfigMap ships, mounted where the image's CMD reads it.
  const shipped = path.join(ROOT, 'k8s', 'probe', 'probe.yaml');
  const legs = (parse(await readFile(shipped, 'utf8')) as { legs: unknown[] }).legs.length;
  const check = await podmanRun(['-v', `${shipped}:/etc/t3-probe/probe.yaml:ro`, tag, 'run', '--config', '/etc/t3-probe/probe.yaml', '--check']);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, new RegExp(`^config ok: ${legs} legs, listen `));

  const echoHelp = await podmanRun([tag, 'echo', '--help']);
  assert.equal(echoHelp.code, 0, echoHelp.stderr);
  assert.match(echoHelp.stdout, /^Usage: t3-probe echo /);
});

test('a probe container holds legs to an echo container, runs as 10001 under tini, and SIGTERM stops both with exit 0 within 5 s', { timeout: 1_500_000 }, async (t) => {
  if (!requireImageTools(t)) return;
  const tag = await image();
  const [echoPort, tcpPort, probePort] = [await freePort(), await freePort(), await freePort()];
  await removeStaleContainers();
  const prefix = `${CONTAINER_PREFIX}${process.pid}`;

  const echo = await startContainer(t, `${prefix}-echo`, [tag, 'echo', '--listen', `127.0.0.1:${echoPort}`, '--tcp-listen', `127.0.0.1:${tcpPort}`]);
  await waitFor('the echo container to answer /probe/healthz', async () => (await httpText(`http://127.0.0.1:${echoPort}/probe/healthz`)).status === 200, {
    timeoutMs: 30_000,
    everyMs: 100,
  });

  const dir = await mkdtemp(path.join(os.tmpdir(), 't3-image-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'probe.yaml');
  await writeFile(
    config,
    [
      `listen: "127.0.0.1:${probePort}"`,
      'defaults:',
      '  interval: 500ms',
      'legs:',
      `  - { name: ws-echo, kind: ws, url: "ws://127.0.0.1:${echoPort}/probe/ws" }`,
      `  - { name: http-echo, kind: http, url: "http://127.0.0.1:${echoPort}/probe/healthz" }`,
      '',
    ].join('\n'),
  );
  // The image's own CMD: run --config /etc/t3-probe/probe.yaml.
  const started = performance.now();
  const probe = await startContainer(t, `${prefix}-probe`, ['-v', `${config}:/etc/t3-probe/probe.yaml:ro`, tag]);
  await waitFor('the probe container to be ready', async () => (await httpText(`http://127.0.0.1:${probePort}/readyz`)).status === 200, {
    timeoutMs: 30_000,
    everyMs: 50,
  });
  t.diagnostic(`start-up (podman run to /readyz 200): ${Math.round(performance.now() - started)} ms`);
  const metrics = await waitFor(
    'both legs connected in /metrics',
    async () => {
      const body = (await httpText(`http://127.0.0.1:${probePort}/metrics`)).body;
      return /^t3probe_connected\{leg="ws-echo"\} 1$/m.test(body) && /^t3probe_connected\{leg="http-echo"\} 1$/m.test(body) && body;
    },
    { timeoutMs: 20_000, everyMs: 200 },
  );
  assert.match(metrics, /^t3probe_heartbeats_total\{leg="ws-echo",result="ok"\} [1-9]\d*$/m);

  // PID 1 is tini, node is its child, and both really run as 10001 (rootful podman, no user
  // namespace: the host sees the same uid).
  for (const name of [probe, echo]) {
    const init = Number((await podman(['inspect', '--format', '{{.State.Pid}}', name])).stdout.trim());
    assert.equal((await readFile(`/proc/${init}/comm`, 'utf8')).trim(), 'tini', `${name}: PID 1`);
    const [node, ...others] = await childPids(init);
    assert.ok(node !== undefined && others.length === 0, `${name}: tini has exactly one child`);
    // node runs with the young generation many legs need (Dockerfile, README "Many legs").
    assert.match((await readFile(`/proc/${node}/cmdline`, 'utf8')).split('\0').join(' '), /^node --max-semi-space-size=32 --heap-growing-percent=30 \/app\/dist\/cli\.js /);
    for (const pid of [init, node]) assert.match(await procStatus(pid, 'Uid'), /^10001\s+10001\s+10001\s+10001$/, `${name}: pid ${pid} uid`);
    t.diagnostic(`${name.slice(prefix.length + 1)} node RSS: ${await procStatus(node, 'VmRSS')}`);
  }

  for (const name of [probe, echo]) {
    const stop = await stopWithSigterm(name);
    t.diagnostic(`${name.slice(prefix.length + 1)} stopped by SIGTERM in ${Math.round(stop.ms)} ms`);
    assert.equal(stop.exitCode, 0, `${name} exit code (137 would mean it had to be killed)\n${stop.logs}`);
    assert.ok(stop.ms < 5_000, `${name} took ${Math.round(stop.ms)} ms`);
    // node itself saw the signal: tini forwarded it.
    assert.match(stop.logs, /SIGTERM: closing gracefully/, name);
  }
});
