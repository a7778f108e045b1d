import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import type { ProbeConfig } from '../src/config/types.js';
import { startDohResponder } from '../src/demo/doh-responder.js';
import { createCertificateAuthority } from '../src/demo/pki.js';
import { startEchoServer } from '../src/echo/server.js';
import { REASONS } from '../src/reasons.js';
import { PRECREATED_HEARTBEAT_RESULTS } from '../src/metrics/registry.js';
import { Probe, type ProbeStatus } from '../src/probe.js';
import { dohOptions, httpLegOptions, wsLegOptions } from './helpers/legs.js';
import { waitFor } from './helpers/wait.js';

const ca = createCertificateAuthority('probe test CA');

async function threeLegProbe(t: TestContext, overrides: Partial<ProbeConfig> = {}) {
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 }, tls: ca.issue(['t3.example.test']) });
  t.after(() => echo.close());
  const serve = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => serve.close());
  const doh = await startDohResponder({ tls: ca.issue(['doh.example.test']), records: { 't3.example.test': { A: ['127.0.0.1'] } } });
  t.after(() => doh.close());
  const url = `wss://t3.example.test:${echo.httpAddress.port}/probe/ws`;
  const trust = { ca: ca.certPem, insecure: false };
  const config: ProbeConfig = {
    listen: { host: '127.0.0.1', port: 0 },
    metrics: { prefix: 't3probe_', detail: 'default' },
    log: { level: 'silent' },
    dropHistory: 3,
    legs: [
      wsLegOptions({
        name: 'cloudflare',
        url,
        tls: trust,
        resolve: { mode: 'doh', doh: dohOptions({ url: `https://doh.example.test:${doh.port}/dns-query`, bootstrap: '127.0.0.1', tls: trust }) },
      }),
      wsLegOptions({ name: 'internal', url, tls: trust, resolve: { mode: 'pin', address: '127.0.0.1' } }),
      httpLegOptions({ name: 't3serve', url: `http://127.0.0.1:${serve.httpAddress.port}/probe/healthz` }),
    ],
    ...overrides,
  };
  const probe = new Probe(config);
  t.after(() => probe.close());
  await probe.start();
  return { probe, echo, serve, doh, base: probe.url ?? '' };
}

async function getText(url: string): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

test('every leg × reason counter exists at 0 from the first scrape, before any leg is even up', async (t) => {
  const { base } = await threeLegProbe(t);
  const { status, body, type } = await getText(`${base}/metrics`);
  assert.equal(status, 200);
  assert.match(type ?? '', /^text\/plain; version=0\.0\.4/);
  for (const leg of ['cloudflare', 'internal', 't3serve']) {
    for (const reason of REASONS) {
      assert.match(body, new RegExp(`^t3probe_disconnects_total\\{leg="${leg}",reason="${reason}"\\} 0$`, 'm'), `${leg}/${reason}`);
    }
    // The default detail pre-creates ok and timeout only; the rest appear when they first happen.
    for (const result of PRECREATED_HEARTBEAT_RESULTS) {
      assert.match(body, new RegExp(`^t3probe_heartbeats_total\\{leg="${leg}",result="${result}"\\} \\d+$`, 'm'));
    }
    assert.match(body, new RegExp(`^t3probe_connected\\{leg="${leg}"\\} [01]$`, 'm'));
    assert.match(body, new RegExp(`^t3probe_last_drop_timestamp_seconds\\{leg="${leg}"\\} 0$`, 'm'));
  }
  // Default process metrics ride along under their standard names.
  assert.match(body, /^process_cpu_seconds_total /m);
  assert.match(body, /^nodejs_eventloop_lag_seconds /m);
});

test('all three legs come up; /status, /healthz, /readyz and the runbook metrics reflect it', async (t) => {
  const { probe, base } = await threeLegProbe(t);
  await waitFor('every leg up', () => probe.legs.every((l) => l.state === 'up'));
  await waitFor('RTT samples on every leg', () => probe.legs.every((l) => l.snapshot().lastRttSeconds !== null));

  assert.equal((await getText(`${base}/healthz`)).status, 200);
  assert.equal((await getText(`${base}/readyz`)).status, 200);
  assert.equal((await getText(`${base}/nope`)).status, 404);
  assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);

  const status = JSON.parse((await getText(`${base}/status`)).body) as ProbeStatus;
  assert.deepEqual(status.legs.map((l) => [l.name, l.kind, l.state]), [
    ['cloudflare', 'ws', 'up'],
    ['internal', 'ws', 'up'],
    ['t3serve', 'http', 'up'],
  ]);
  assert.equal(status.ready, true);

  const { body } = await getText(`${base}/metrics`);
  for (const leg of ['cloudflare', 'internal', 't3serve']) assert.match(body, new RegExp(`^t3probe_connected\\{leg="${leg}"\\} 1$`, 'm'));
  // histogram_quantile(0.99, rate(t3probe_rtt_seconds_bucket{leg="t3serve"}[15m])) needs these:
  assert.match(body, /^t3probe_rtt_seconds_bucket\{le="0\.0005",leg="t3serve"\} \d+$/m);
  assert.match(body, /^t3probe_rtt_seconds_bucket\{le="30",leg="t3serve"\} \d+$/m);
  assert.match(body, /^t3probe_rtt_seconds_bucket\{le="\+Inf",leg="t3serve"\} [1-9]\d*$/m);
  // The default detail keeps connect phases as one histogram over all legs (metrics.detail: full splits it per leg).
  for (const phase of ['dns', 'tcp', 'tls', 'upgrade']) {
    assert.match(body, new RegExp(`^t3probe_connect_seconds_count\\{phase="${phase}"\\} [1-9]`, 'm'), phase);
  }

});

test('drops land in the bounded /status ring with timestamps, reason and the RTT before the drop', async (t) => {
  const { probe, base, echo } = await threeLegProbe(t);
  await waitFor('both ws legs answering', () => probe.legs.slice(0, 2).every((l) => l.snapshot().lastRttSeconds !== null));
  const before = Date.now();
  echo.destroy();
  await waitFor('both ws legs down', () => probe.legs.slice(0, 2).every((l) => l.state === 'down'));
  const status = JSON.parse((await getText(`${base}/status`)).body) as ProbeStatus;
  assert.deepEqual(status.recentDrops.map((d) => d.leg).sort(), ['cloudflare', 'internal']);
  for (const drop of status.recentDrops) {
    assert.ok(drop.at >= before && drop.at <= Date.now());
    assert.ok(drop.reason === 'closed' || drop.reason === 'reset');
    assert.ok(drop.lastRttSeconds !== null);
    assert.ok(drop.upForSeconds !== null);
  }
  const cloudflare = status.legs.find((l) => l.name === 'cloudflare');
  assert.equal(cloudflare?.lastDrop?.reason, status.recentDrops.find((d) => d.leg === 'cloudflare')?.reason);
  const { body } = await getText(`${base}/metrics`);
  assert.match(body, /^t3probe_connection_lifetime_seconds_count\{leg="internal"\} 1$/m);
  assert.match(body, /^t3probe_last_drop_timestamp_seconds\{leg="internal"\} [1-9]/m);
  // The ring is bounded (dropHistory: 3): retries while down never add entries, new drops evict old ones.
  assert.ok(status.recentDrops.length <= 3);
});

test('a custom metrics prefix renames every probe metric', async (t) => {
  const { base } = await threeLegProbe(t, { metrics: { prefix: 'edge_', detail: 'default' } });
  const { body } = await getText(`${base}/metrics`);
  assert.match(body, /^edge_disconnects_total\{leg="internal",reason="timeout"\} 0$/m);
  assert.doesNotMatch(body, /^t3probe_/m);
});

test('after close() a process running a probe, an echo server and live legs exits on its own', async () => {
  const fixture = fileURLToPath(new URL('./fixtures/probe-then-close.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(killer);
  assert.equal(signal, null, 'the child had to be killed: something kept it alive after close()');
  assert.equal(code, 0);
  assert.match(out, /legs up: 3/);
  assert.match(out, /closed/);
});

test('a drop in the ring carries its recovery time, so a window that opens while the leg is still down sees it down', async (t) => {
  const serve = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  const port = serve.httpAddress.port;
  const other = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => other.close());
  const config: ProbeConfig = {
    listen: { host: '127.0.0.1', port: 0 },
    metrics: { prefix: 't3probe_', detail: 'default' },
    log: { level: 'silent' },
    dropHistory: 8,
    legs: [
      wsLegOptions({ name: 'internal', role: 'internal', url: `ws://127.0.0.1:${port}/probe/ws`, backoff: { minMs: 300, maxMs: 300, factor: 1 } }),
      wsLegOptions({ name: 'other', role: 'public', url: other.url }),
    ],
  };
  const probe = new Probe(config);
  t.after(() => probe.close());
  await probe.start({ listen: false });
  await waitFor('legs up', () => probe.legs.every((l) => l.state === 'up'));
  serve.destroy();
  await waitFor('internal down', () => probe.leg('internal')?.state === 'down');
  const drop = probe.status().recentDrops[0];
  assert.equal(drop?.recoveredAt, null, 'still down');
  const back = await startEchoServer({ listen: { host: '127.0.0.1', port } });
  t.after(() => back.close());
  await waitFor('internal up again', () => probe.leg('internal')?.state === 'up', { timeoutMs: 10_000 });
  const recovered = probe.status().recentDrops[0];
  assert.ok(recovered !== undefined && recovered.recoveredAt !== null, 'recovery time recorded');
  assert.ok(recovered.recoveredAt >= recovered.at && recovered.recoveredAt <= Date.now());
  assert.equal(recovered.recoveredAt, Date.parse(probe.leg('internal')?.snapshot().since ?? ''));

  // A window between the drop and the recovery holds no drop, yet the leg was down in it.
  const middle = (recovered.at + recovered.recoveredAt) / 2;
  const during = probe.verdict(middle, Math.max(1, (recovered.recoveredAt - recovered.at) / 4));
  assert.equal(during.bursts.length, 0);
  assert.deepEqual(during.downLegs, ['internal']);
  assert.deepEqual(during.cleanLegs, ['other']);
  assert.equal(during.verdict, 'internal_path', during.summary);
  // After the recovery the leg is clean again: a window that opens after it.
  const recoveredAt = recovered.recoveredAt;
  await waitFor('time past the recovery', () => Date.now() > recoveredAt + 20, { everyMs: 5 });
  const after = probe.verdict(Date.now(), 10);
  assert.deepEqual(after.cleanLegs, ['internal', 'other']);
});
