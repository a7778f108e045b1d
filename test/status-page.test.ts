/**
 * The status page at `/`, in a real headless Chromium (Debian's, driven by playwright-core):
 * real legs against real far ends on loopback, a real fault, a real recovery. The page must
 * follow all of it by polling /status, escape what the far end says, and fetch nothing but the
 * probe's own origin.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import type { ProbeConfig } from '../src/config/types.js';
import { startEchoServer } from '../src/echo/server.js';
import { Probe } from '../src/probe.js';
import { statusPage } from '../src/server/status-page.js';
import { httpText } from './helpers/http-text.js';
import { httpLegOptions, idleLegOptions, wsLegOptions } from './helpers/legs.js';
import { startScriptedWsServer } from './helpers/servers.js';
import { requireBinary } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
// Without the background-networking flags Chromium phones home at start; this machine (and many
// clusters) has no route out, and the test must prove the page itself needs none.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function probeConfig(legs: ProbeConfig['legs']): ProbeConfig {
  return { listen: { host: '127.0.0.1', port: 0 }, metrics: { prefix: 't3probe_', detail: 'default' }, log: { level: 'silent' }, dropHistory: 50, legs };
}

async function startProbe(t: TestContext, legs: ProbeConfig['legs']): Promise<{ probe: Probe; url: string }> {
  const probe = new Probe(probeConfig(legs), { processMetrics: false });
  t.after(() => probe.close());
  await probe.start();
  assert.ok(probe.url !== undefined);
  return { probe, url: probe.url };
}

interface Browsed {
  readonly page: Page;
  /** Every URL the browser asked for, in order. */
  readonly requests: string[];
  /** When (performance.now()) each request for the probe's /status started. */
  readonly polls: number[];
  /** Console errors, uncaught page errors, CSP violations and dialogs. */
  readonly problems: string[];
}

/** A fresh Chromium with a fresh profile, on `url`; closed (and the profile deleted) in t.after. */
async function browse(t: TestContext, url: string): Promise<Browsed> {
  const profile = await mkdtemp(path.join(os.tmpdir(), 't3-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  // One hook, in this order: node:test runs after-hooks first-registered-first, and the profile
  // can only be removed once the browser has stopped writing to it.
  t.after(async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true, maxRetries: 5 });
  });
  const requests: string[] = [];
  const polls: number[] = [];
  const problems: string[] = [];
  context.on('request', (req) => {
    requests.push(req.url());
    if (req.url() === new URL('status', url).href) polls.push(performance.now());
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  const response = await page.goto(url);
  assert.equal(response?.status(), 200);
  const headers = response.headers();
  assert.equal(headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(headers['cache-control'], 'no-store');
  // Hash-based: no 'unsafe-inline', so only the page's own script and style can run.
  assert.match(headers['content-security-policy'] ?? '', /^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/]+=*'; style-src 'sha256-[A-Za-z0-9+/]+=*'; connect-src 'self'; img-src data:/);
  assert.doesNotMatch(headers['content-security-policy'] ?? '', /unsafe/);
  return { page, requests, polls, problems };
}

/** data: URLs (the inline favicon) never leave the browser; anything else must be the probe. */
function foreignRequests(requests: readonly string[], origin: string): string[] {
  return requests.filter((u) => !u.startsWith('data:') && new URL(u).origin !== origin);
}

async function attributes(page: Page, selector: string, name: string): Promise<(string | null)[]> {
  return Promise.all((await page.locator(selector).all()).map((l) => l.getAttribute(name)));
}

async function cardState(page: Page, leg: string): Promise<string | null> {
  return page.locator(`.card[data-leg="${leg}"]`).getAttribute('data-state');
}

test('the status page follows both WebSocket legs dropping and recovering, and names the segment', async (t) => {
  if (!requireBinary(t, CHROMIUM, 'chromium')) return;
  await mkdir(ARTIFACTS, { recursive: true });

  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  const serve = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => serve.close());
  const port = echo.httpAddress.port;
  const { probe, url } = await startProbe(t, [
    wsLegOptions({ name: 'cloudflare', role: 'public', url: `ws://127.0.0.1:${port}/probe/ws` }),
    wsLegOptions({ name: 'internal', role: 'internal', url: `ws://t3.example.test:${port}/probe/ws`, resolve: { mode: 'pin', address: '127.0.0.1' } }),
    httpLegOptions({ name: 't3serve', role: 'serve', url: `http://127.0.0.1:${serve.httpAddress.port}/probe/healthz` }),
  ]);
  const origin = new URL(url).origin;
  const head = await httpText(`${url}/`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(head.headers['content-type'], 'text/html; charset=utf-8');
  assert.match(String(head.headers['content-security-policy']), /^default-src 'none'; /);
  const { page, requests, polls, problems } = await browse(t, `${url}/`);

  // Healthy: three cards up, each with an RTT sparkline, and infrastructure exonerated.
  // Locator waits, not waitForFunction: the page's CSP has no 'unsafe-eval', which is what
  // Playwright's string predicates need.
  await page.locator('.card[data-state="up"] svg.spark path').nth(2).waitFor();
  await page.locator('#verdict[data-verdict="exonerated"]').waitFor();
  assert.deepEqual(await attributes(page, '.card[data-leg]', 'data-leg'), ['cloudflare', 'internal', 't3serve']);
  assert.deepEqual(await attributes(page, '.card[data-leg]', 'data-state'), ['up', 'up', 'up']);
  assert.match((await page.locator('.card[data-leg="t3serve"] .c-rtt-val').textContent()) ?? '', /^\d+(\.\d+)? ms/);
  assert.match((await page.locator('#verdict').textContent()) ?? '', /Infra exonerated/);
  assert.equal(await page.locator('#timeline .mark').count(), 0);
  assert.equal(await page.locator('#banner').isHidden(), true);
  await page.screenshot({ path: path.join(ARTIFACTS, 'status-page.png'), fullPage: true });

  // Fault: the far end of both WebSocket legs dies (listener and sockets). The serve leg is untouched.
  echo.destroy();
  await page.locator('.card[data-leg="cloudflare"][data-state="down"]').waitFor();
  await page.locator('.card[data-leg="internal"][data-state="down"]').waitFor();
  await page.locator('#verdict[data-verdict="traefik_dispatch_or_host"]').waitFor();
  await page.locator('#timeline .mark[data-leg="cloudflare"]').first().waitFor();
  await page.locator('#timeline .mark[data-leg="internal"]').first().waitFor();
  // A retry while down may already have failed, so wait for the card to say so, too.
  await page.locator('.card[data-leg="internal"] .c-err:not([hidden])').waitFor();
  assert.equal(await cardState(page, 't3serve'), 'up');
  assert.equal(await page.locator('#timeline .mark[data-leg="t3serve"]').count(), 0);
  const reasons = await attributes(page, '#timeline .mark', 'data-reason');
  assert.ok(reasons.length >= 2 && reasons.every((r) => r === 'closed' || r === 'reset'), reasons.join(','));
  // The marks of one burst line up vertically: same instant, same x, on different rows.
  const xs = await Promise.all((await page.locator('#timeline .mark').all()).map(async (m) => (await m.boundingBox())?.x ?? Number.NaN));
  assert.ok(Math.max(...xs) - Math.min(...xs) <= 2, `burst marks should align, got x = ${xs.join(', ')}`);
  const title = (await page.locator('#timeline .mark[data-leg="internal"]').first().getAttribute('title')) ?? '';
  assert.match(title, /^internal: (closed|reset) at \d\d:\d\d:\d\d UTC/);
  assert.match((await page.locator('.card[data-leg="internal"] .c-err').textContent()) ?? '', /failing now: refused.*ECONNREFUSED/);
  assert.match((await page.locator('#verdict').textContent()) ?? '', /Traefik, dispatch or host[\s\S]*cloudflare.*internal/);
  assert.equal(await page.locator('#bursts li').count(), 1);
  assert.match((await page.locator('#summary').textContent()) ?? '', /2 down/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'status-page-fault.png'), fullPage: true });

  // Recovery: the far end comes back on the same port; the cards follow. The verdict keeps
  // pointing at the burst while it is inside its two-minute window.
  const back = await startEchoServer({ listen: { host: '127.0.0.1', port } });
  t.after(() => back.close());
  await page.locator('.card[data-leg="cloudflare"][data-state="up"]').waitFor();
  await page.locator('.card[data-leg="internal"][data-state="up"]').waitFor();
  assert.equal(await page.locator('.card[data-state="up"]').count(), 3);
  assert.equal(await page.locator('#verdict').getAttribute('data-verdict'), 'traefik_dispatch_or_host');
  assert.equal(await page.locator('.card[data-leg="internal"] .c-err').isHidden(), true);
  assert.match((await page.locator('.card[data-leg="internal"] .c-drop').textContent()) ?? '', /last drop \d\d:\d\d:\d\d .*(closed|reset)/);
  assert.deepEqual(problems, []);
  assert.deepEqual(foreignRequests(requests, origin), []);
  assert.ok(requests.filter((u) => u === `${origin}/status`).length >= 3, 'the page polls status');

  // The probe goes away: the page says so instead of showing stale data as if it were live.
  await probe.close();
  await page.locator('#banner:not([hidden])').waitFor();
  assert.match((await page.locator('#banner').textContent()) ?? '', /^Probe unreachable since \d\d:\d\d:\d\d UTC/);
  assert.equal(await page.locator('#conn').getAttribute('data-conn'), 'down');
  assert.match((await page.locator('body').getAttribute('class')) ?? '', /\bstale\b/);
  // ...and backs off instead of polling a dead probe every 2 s: the second failed attempt came
  // 4 s after the first, and the banner announces 8 s next.
  await page.locator('#banner', { hasText: 'Retrying every 8 s' }).waitFor();
  const [first, second] = polls.slice(-2);
  assert.ok(first !== undefined && second !== undefined && second - first >= 3_500, `failing polls at ${polls.slice(-3).join(', ')}`);
  assert.deepEqual(foreignRequests(requests, origin), []);
});

test('text from the far end (a WebSocket close reason with markup) is shown as text, never run', async (t) => {
  if (!requireBinary(t, CHROMIUM, 'chromium')) return;
  // Leg names are restricted to [A-Za-z0-9_.-] by the config, but close reasons are whatever the
  // far end sends, and they reach /status in the drop's message.
  const markup = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>';
  let connections = 0;
  const far = await startScriptedWsServer((ws) => {
    const first = connections++ === 0;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (first) ws.close(4000, markup);
      else ws.send(data, { binary: isBinary });
    });
  });
  t.after(() => far.close());
  const { url } = await startProbe(t, [wsLegOptions({ name: 'evil', role: 'public', url: far.url })]);
  const { page, requests, problems } = await browse(t, `${url}/`);

  await page.locator('.card[data-leg="evil"] .c-drop .msg').waitFor();
  await page.locator('#timeline .mark[data-leg="evil"][data-reason="closed"]').waitFor();
  const message = (await page.locator('.card[data-leg="evil"] .c-drop .msg').textContent()) ?? '';
  assert.equal(message, `peer closed the WebSocket with code 4000 (${markup})`);
  assert.ok(((await page.locator('#timeline .mark[data-leg="evil"]').first().getAttribute('title')) ?? '').includes(markup));
  assert.equal(await page.locator('img').count(), 0);
  assert.equal(await page.locator('main script').count(), 0);
  assert.equal(await page.locator('b', { hasText: 'bold' }).count(), 0);
  assert.equal(await page.evaluate('typeof window.pwned'), 'undefined');
  assert.deepEqual(problems, []);
  assert.deepEqual(foreignRequests(requests, new URL(url).origin), []);
});

test('the page opens with filled RTT sparklines and labels the verdict window as what it is (±W, clamped to now)', async (t) => {
  if (!requireBinary(t, CHROMIUM, 'chromium')) return;
  await mkdir(ARTIFACTS, { recursive: true });
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  const { probe, url } = await startProbe(t, [wsLegOptions({ name: 'cloudflare', role: 'public', url: echo.url, intervalMs: 25 })]);
  // The probe already has RTT history before anyone opens the page.
  await waitFor('20 RTT samples', () => (probe.leg('cloudflare')?.snapshot().rttHistory.length ?? 0) >= 20);
  const { page, polls, problems } = await browse(t, `${url}/`);
  const spark = page.locator('.card[data-leg="cloudflare"] svg.spark path');
  await spark.waitFor();
  const pollsSoFar = polls.length;
  const points = ((await spark.getAttribute('d')) ?? '').split(/[ML]/).filter((p) => p.trim() !== '').length;
  assert.ok(points >= 20, `${points} points after ${pollsSoFar} poll(s): the sparkline starts from the probe's RTT history`);
  assert.ok(pollsSoFar <= 2, `${pollsSoFar} polls`);

  const legsLine = (await page.locator('#v-legs').textContent()) ?? '';
  assert.match(legsLine, /window ±2m, clamped to now: \d\d:\d\d:\d\d–\d\d:\d\d:\d\d UTC · (\d+|under 1)% observed \(partial\)/);
  assert.doesNotMatch(legsLine, /last 2m/);
  assert.match((await page.locator('#v-sub').textContent()) ?? '', /within ±2m of now \(the window ends now\)/);
  assert.match((await page.locator('#burst-legend').textContent()) ?? '', /^burst: drops within 3s of each other$/);
  assert.match((await page.locator('.tl-window span').textContent()) ?? '', /^verdict window ±2m$/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'status-page-history.png'), fullPage: true });
  assert.deepEqual(problems, []);
});

test('an idle leg\'s card shows how long it has been idle now and what its checks found', async (t) => {
  if (!requireBinary(t, CHROMIUM, 'chromium')) return;
  await mkdir(ARTIFACTS, { recursive: true });
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  const { probe, url } = await startProbe(t, [idleLegOptions({ name: 'swarm-vip', url: echo.url, idleMs: 400 })]);
  await waitFor('2 survived checks', () => (probe.leg('swarm-vip')?.snapshot().idle?.checks.survived ?? 0) >= 2);
  const { page, problems } = await browse(t, `${url}/`);
  const idle = page.locator('.card[data-leg="swarm-vip"] .c-idle');
  await idle.waitFor();
  const text = (await idle.textContent()) ?? '';
  assert.match(text, /idle now (\d+s|not idle)/);
  // At least the 2 waited for; a slow browser start may let more pass (10, 11, …).
  const survived = /survived (\d+)/.exec(text);
  assert.ok(survived !== null && Number(survived[1]) >= 2, `card says ${JSON.stringify(text)}`);
  assert.match(text, /expired 0/);
  assert.match(text, /inconclusive 0/);
  assert.match(text, /longest idle survived 0s/, 'idle 400 ms survived: shown in whole seconds');
  assert.match(text, /control up/);

  // The echo goes away mid-idle: the check is inconclusive (its control dropped too), and the card says so.
  echo.destroy();
  await page.locator('.card[data-leg="swarm-vip"][data-state="down"]').waitFor();
  await page.locator('.card[data-leg="swarm-vip"] .c-idle', { hasText: 'inconclusive 1' }).waitFor();
  assert.match((await idle.textContent()) ?? '', /expired 0/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'status-page-idle.png'), fullPage: true });
  assert.deepEqual(problems, []);
});

test('the page labels the verdict window and bursts with the lengths its server uses, not with its own', async (t) => {
  if (!requireBinary(t, CHROMIUM, 'chromium')) return;
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  const probe = new Probe(probeConfig([wsLegOptions({ name: 'cloudflare', role: 'public', url: echo.url })]), { processMetrics: false });
  t.after(() => probe.close());
  await probe.start({ listen: false });
  // A server whose /status verdict looks at now ± 45 s and takes drops within 4 s as one burst.
  const windowMs = 45_000;
  const burstMs = 4_000;
  const { html, csp } = await statusPage({ windowMs, burstMs });
  const server = http.createServer((req, res) => {
    if (req.url === '/status') {
      const status = { ...probe.status(), verdict: probe.verdict(Date.now(), windowMs, burstMs) };
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(status));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': csp }).end(html);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  const { page, problems } = await browse(t, `http://127.0.0.1:${address.port}/`);

  await page.locator('#v-legs .v-window').waitFor();
  assert.match((await page.locator('#v-legs').textContent()) ?? '', /window ±45s, clamped to now: \d\d:\d\d:\d\d–\d\d:\d\d:\d\d UTC/);
  assert.match((await page.locator('#v-sub').textContent()) ?? '', /within ±45s of now \(the window ends now\)/);
  assert.equal(await page.locator('#burst-legend').textContent(), 'burst: drops within 4s of each other');
  assert.equal(await page.locator('.tl-window span').textContent(), 'verdict window ±45s');
  assert.deepEqual(problems, []);
});
