/**
 * The `state:` file keeps /status's history across a restart: the drops before it come back, the
 * restart gap stays unobserved, and a corrupt file is reported and ignored.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import type { ProbeConfig } from '../src/config/types.js';
import { STATE_FILE_VERSION } from '../src/attribution/state-file.js';
import { createLogger } from '../src/log.js';
import { Probe } from '../src/probe.js';
import { readProbeSource } from '../src/attribution/probe-source.js';
import { startScriptedWsServer } from './helpers/servers.js';
import { waitFor } from './helpers/wait.js';

async function setup(t: TestContext, dropHistory = 16) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 't3-state-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const far = await startScriptedWsServer((ws) => ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary })));
  t.after(() => far.close());
  const config = parseConfig(
    [
      `dropHistory: ${dropHistory}`,
      'state: probe-state.json',
      'legs:',
      `  - { name: a, kind: ws, url: "${far.url}", interval: 50ms, backoff: { min: 20ms, max: 50ms } }`,
    ].join('\n'),
    { baseDir: dir },
  );
  return { dir, far, config, statePath: path.join(dir, 'probe-state.json') };
}

function logCapture() {
  const lines: { msg: string; level: string; [key: string]: unknown }[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string; level: string }) });
  return { lines, logger };
}

async function startProbe(t: TestContext, config: ProbeConfig, logger = createLogger('silent')) {
  const probe = new Probe(config, { processMetrics: false, logger });
  t.after(() => probe.close());
  await probe.start({ listen: false });
  return probe;
}

test('the drop ring survives a restart, and the restart gap is not claimed as observed', async (t) => {
  const { far, config, statePath } = await setup(t);
  assert.equal(config.state, statePath, 'a relative state path is relative to the config file');
  const first = await startProbe(t, config);
  await waitFor('leg a up', () => first.leg('a')?.state === 'up');
  for (const ws of far.clients) ws.terminate();
  await waitFor('the drop in the ring', () => first.status().recentDrops.length === 1);
  const [drop] = first.status().recentDrops;
  // Written soon after the drop, not only on close: a crash (SIGKILL, OOM) keeps it too.
  await waitFor('the drop in the state file', async () => {
    const written = JSON.parse(await readFile(statePath, 'utf8')) as { drops: { at: number }[] };
    return written.drops.some((d) => d.at === drop?.at);
  });
  await first.close();

  const doc = JSON.parse(await readFile(statePath, 'utf8')) as { version: number; writtenAt: number; drops: { at: number }[]; observed: { from: number; to: number }[] };
  assert.equal(doc.version, STATE_FILE_VERSION);
  assert.deepEqual(doc.drops.map((d) => d.at), [drop?.at]);
  assert.equal((await stat(statePath)).mode & 0o777, 0o600);
  assert.deepEqual((await readdir(path.dirname(statePath))).filter((f) => f.includes('.tmp')), [], 'no temp file left behind');
  // A real gap between the last write and the next start.
  await waitFor('time to pass after the last write', () => Date.now() > doc.writtenAt + 40);

  const second = await startProbe(t, config);
  const status = second.status();
  assert.deepEqual(status.recentDrops.map((d) => [d.leg, d.at, d.reason]), [[drop?.leg, drop?.at, drop?.reason]]);
  assert.equal(status.observed.length, 2);
  const [before, now] = status.observed;
  assert.equal(before?.to, doc.writtenAt);
  assert.equal(now?.from, Date.parse(status.startedAt));
  assert.ok((before?.to ?? 0) < (now?.from ?? 0), 'the spans leave the restart gap out');
  // A moment in the gap: nothing observed, so no claim.
  const gapFrom = before?.to ?? 0;
  const gapTo = now?.from ?? 0;
  const inGap = second.verdict((gapFrom + gapTo) / 2, Math.floor((gapTo - gapFrom) / 4), 1);
  assert.equal(inGap.coverage.fraction, 0);
  assert.equal(inGap.verdict, 'no_data');
  // The drop before the restart is attributed: it is inside the first run's observed span.
  const atDrop = second.verdict(drop?.at ?? 0, 10, 1);
  assert.equal(atDrop.bursts.length, 1);
});

test('a corrupt, torn or foreign state file is reported with its path and reason, ignored, and replaced on close', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['torn', '{"version":1,"writtenAt":1,"observed":[],"drops":[{"leg":"a"', /not JSON/],
    ['foreign version', JSON.stringify({ version: 99, writtenAt: 1, observed: [], drops: [] }), /version 99, this probe reads version 1/],
    ['bad drop', JSON.stringify({ version: 1, writtenAt: 1, observed: [], drops: [{ leg: 'a', at: 'yesterday' }] }), /drops\[0\] is not a drop event/],
  ];
  for (const [what, text, reason] of cases) {
    const { config, statePath } = await setup(t);
    await writeFile(statePath, text);
    const { lines, logger } = logCapture();
    const probe = await startProbe(t, config, logger);
    const warning = lines.find((l) => l.msg.startsWith('state file ignored'));
    assert.ok(warning, what);
    assert.equal(warning['level'], 'warn');
    assert.equal(warning['path'], statePath);
    assert.match(String(warning['reason']), reason, what);
    assert.deepEqual(probe.status().recentDrops, []);
    assert.equal(probe.status().observed.length, 1);
    await probe.close();
    const rewritten = JSON.parse(await readFile(statePath, 'utf8')) as { version: number };
    assert.equal(rewritten.version, STATE_FILE_VERSION, `${what}: replaced by a valid file`);
  }
});

test('the state file is bounded by the ring: a restart with a smaller dropHistory keeps the newest drops', async (t) => {
  const { config, statePath } = await setup(t, 3);
  const drops = Array.from({ length: 10 }, (_, i) => ({
    leg: 'a',
    kind: 'ws',
    reason: 'reset',
    code: 'PROBE_ERR_CONNECT/ECONNRESET',
    message: 'reset',
    at: 1_000 + i,
    time: new Date(1_000 + i).toISOString(),
    upForSeconds: 1,
    lastRttSeconds: null,
    recoveredAt: 1_000 + i,
  }));
  await writeFile(statePath, JSON.stringify({ version: 1, writtenAt: 2_000, observed: [{ from: 500, to: 2_000 }], drops }));
  const probe = await startProbe(t, config);
  assert.deepEqual(probe.status().recentDrops.map((d) => d.at), [1_007, 1_008, 1_009]);
  // The ring is full, so the history is complete only since its oldest drop.
  assert.equal(probe.status().observed[0]?.from, 1_007);
  await probe.close();
  const doc = JSON.parse(await readFile(statePath, 'utf8')) as { drops: unknown[] };
  assert.equal(doc.drops.length, 3);
});

test('attribute --probe reads the earlier runs from /status, and not the restart gap', async (t) => {
  const { far, config } = await setup(t);
  const first = await startProbe(t, config);
  await waitFor('leg a up', () => first.leg('a')?.state === 'up');
  for (const ws of far.clients) ws.terminate();
  await waitFor('the drop in the ring', () => first.status().recentDrops.length === 1);
  await first.close();
  const second = new Probe({ ...config, listen: { host: '127.0.0.1', port: 0 } }, { processMetrics: false });
  t.after(() => second.close());
  await second.start();
  const [before, current] = second.status().observed;
  const now = Date.now();
  const { input } = await readProbeSource(new URL(second.url ?? ''), now, 60_000, now, AbortSignal.timeout(5_000));
  assert.deepEqual(input.observed, [before, { from: current?.from, to: now }]);
});
