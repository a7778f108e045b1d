import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { createCertificateAuthority } from '../src/demo/pki.js';
import { startDohResponder } from '../src/demo/doh-responder.js';
import type { WsLegOptions } from '../src/config/types.js';
import { startEchoServer } from '../src/echo/server.js';
import { dohOptions, startLeg, wsLegOptions, FAST } from './helpers/legs.js';
import { startRawWsFarEnd } from './helpers/raw-ws-far-end.js';
import { freePort, startHttpServer, startScriptedWsServer } from './helpers/servers.js';
import { waitFor } from './helpers/wait.js';

const ca = createCertificateAuthority('ws-leg test CA');
const loopback = { host: '127.0.0.1', port: 0 };


/** A wss leg to t3.example.test, resolved by a real HTTP/2 DoH responder that answers 127.0.0.1. */
async function dohResolvedLeg(t: TestContext, overrides: Partial<WsLegOptions> = {}) {
  const echo = await startEchoServer({ listen: loopback, tls: ca.issue(['t3.example.test']) });
  t.after(() => echo.close());
  const doh = await startDohResponder({ tls: ca.issue(['doh.example.test']), records: { 't3.example.test': { A: ['127.0.0.1'], ttl: 60 } } });
  t.after(() => doh.close());
  const trust = { ca: ca.certPem, insecure: false };
  const probe = startLeg(
    wsLegOptions({
      name: 'cloudflare',
      url: `wss://t3.example.test:${echo.httpAddress.port}/probe/ws`,
      tls: trust,
      resolve: { mode: 'doh', doh: dohOptions({ url: `https://doh.example.test:${doh.port}/dns-query`, bootstrap: '127.0.0.1', tls: trust }) },
      ...overrides,
    }),
  );
  t.after(() => probe.close());
  return { probe, doh };
}

test('a ws leg comes up against the echo server, heartbeats with data frames, and measures RTT', async (t) => {
  const echo = await startEchoServer({ listen: loopback });
  t.after(() => echo.close());
  const probe = startLeg(wsLegOptions({ url: echo.url }));
  t.after(() => probe.close());
  await probe.up();
  await waitFor('3 answered heartbeats', async () => (await probe.heartbeats('ok')) >= 3);
  assert.equal(await probe.connected(), 1);
  assert.equal(await probe.disconnects(), 0);
  const status = probe.leg.snapshot();
  assert.equal(status.state, 'up');
  assert.equal(status.remoteAddress, '127.0.0.1');
  assert.ok(status.lastRttSeconds !== null && status.lastRttSeconds > 0 && status.lastRttSeconds < 1);
});

test('killing the far end drops the leg once (reset or closed), and it reconnects when the far end returns', async (t) => {
  const echo = await startEchoServer({ listen: loopback });
  const port = echo.httpAddress.port;
  const probe = startLeg(wsLegOptions({ url: echo.url }));
  t.after(() => probe.close());
  await probe.up();

  const dropped = probe.nextDrop();
  echo.destroy();
  const drop = await dropped;
  assert.ok(drop.reason === 'reset' || drop.reason === 'closed', `reason ${drop.reason}`);
  assert.ok(drop.upForSeconds !== null && drop.upForSeconds > 0);
  assert.equal(await probe.disconnects(drop.reason), 1);
  assert.equal(await probe.disconnects(), 1, 'exactly one drop across all reasons');
  assert.equal(await probe.connected(), 0);

  // Retries against the dead port (refused) while down are not drops.
  await waitFor('two failed reconnects', () => probe.leg.snapshot().reconnectAttempts >= 2);
  assert.equal(probe.leg.snapshot().currentError?.reason, 'refused');
  assert.equal(await probe.disconnects(), 1);

  const back = await startEchoServer({ listen: { host: '127.0.0.1', port } });
  t.after(() => back.close());
  await probe.up();
  assert.equal(await probe.connected(), 1);
  assert.equal(await probe.disconnects(), 1);
  assert.equal(probe.drops.length, 1);
});

test('nothing listening: the first connect fails with reason refused, counted once', async (t) => {
  const port = await freePort();
  const probe = startLeg(wsLegOptions({ url: `ws://127.0.0.1:${port}/probe/ws` }));
  t.after(() => probe.close());
  const drop = await probe.nextDrop();
  assert.equal(drop.reason, 'refused');
  assert.equal(drop.upForSeconds, null);
  assert.match(drop.code, /ECONNREFUSED/);
  await waitFor('three failed reconnects', () => probe.leg.snapshot().reconnectAttempts >= 3);
  assert.equal(await probe.disconnects('refused'), 1);
  assert.equal(await probe.disconnects(), 1);
});

test('a far end that stops echoing drops the leg with timeout within interval + deadline, and the socket is terminated', async (t) => {
  let echoing = true;
  const closeCodes: number[] = [];
  const server = await startScriptedWsServer((ws) => {
    ws.on('message', (data, isBinary) => {
      if (echoing) ws.send(data, { binary: isBinary });
    });
    ws.on('close', (code) => closeCodes.push(code));
  });
  t.after(() => server.close());
  const probe = startLeg(wsLegOptions({ url: server.url }));
  t.after(() => probe.close());
  await probe.up();
  await waitFor('an answered heartbeat', async () => (await probe.heartbeats('ok')) >= 1);

  echoing = false;
  const stoppedAt = performance.now();
  const drop = await probe.nextDrop();
  const elapsedMs = performance.now() - stoppedAt;
  assert.equal(drop.reason, 'timeout');
  assert.equal(drop.code, 'PROBE_ERR_HEARTBEAT_TIMEOUT');
  assert.ok(elapsedMs <= FAST.intervalMs + FAST.deadlineMs + 100, `dropped after ${elapsedMs.toFixed(0)} ms`);
  assert.equal(await probe.heartbeats('timeout'), 1);
  assert.equal(await probe.disconnects('timeout'), 1);
  assert.equal(await probe.disconnects(), 1);
  // terminate(), not a polite close: the far end sees an abnormal closure (no close frame).
  await waitFor('the far end to see the socket go', () => closeCodes.length >= 1);
  assert.equal(closeCodes[0], 1006);
});

test('a peer close frame drops the leg with reason closed and keeps the close code', async (t) => {
  const server = await startScriptedWsServer((ws) => {
    ws.on('message', (data) => {
      ws.send(data);
      ws.close(4001, 'maintenance');
    });
  });
  t.after(() => server.close());
  const probe = startLeg(wsLegOptions({ url: server.url }));
  t.after(() => probe.close());
  const drop = await probe.nextDrop();
  assert.equal(drop.reason, 'closed');
  assert.equal(drop.closeCode, 4001);
  assert.match(drop.message, /4001 \(maintenance\)/);
  assert.equal(await probe.disconnects(), 1);
});

test('a close frame read before the heartbeat deadline is judged is the drop: closed 1012, not timeout, even with the FIN withheld', async (t) => {
  // ws emits 'close' only once TCP is closed, which after a close frame waits for the far end's
  // FIN; this far end never sends it, so only the heartbeat deadline ends the wait.
  const far = await startRawWsFarEnd('close-frame');
  t.after(() => far.close());
  const probe = startLeg(wsLegOptions({ url: far.url, intervalMs: 10_000 }));
  t.after(() => probe.close());
  const drop = await probe.nextDrop();
  assert.equal(drop.reason, 'closed', `${drop.code}: ${drop.message}`);
  assert.equal(drop.closeCode, 1012);
  assert.equal(await probe.heartbeats('timeout'), 0);
  assert.deepEqual([await probe.disconnects('closed'), await probe.disconnects()], [1, 1]);
});

test('a FIN that reached a starved probe before its heartbeat deadline fired is the drop: closed, not timeout', async (t) => {
  const far = await startRawWsFarEnd('fin');
  t.after(() => far.close());
  const probe = startLeg(wsLegOptions({ url: far.url, intervalMs: 10_000 }));
  t.after(() => probe.close());
  await probe.up();
  // The first heartbeat is on the wire. Starve this thread (the probe's) until the far end's FIN
  // has left and the deadline has passed: when the loop runs again, the overdue deadline timer
  // runs before the socket is read, in the same turn as the FIN.
  const blockedAt = performance.now();
  far.blockUntilFaultSent(10_000);
  while (performance.now() < blockedAt + FAST.deadlineMs + 50) {
    // starved
  }
  const drop = await probe.nextDrop();
  assert.equal(drop.reason, 'closed', `${drop.code}: ${drop.message}`);
  assert.equal(drop.code, 'PROBE_ERR_PEER_CLOSED');
  assert.equal(await probe.heartbeats('timeout'), 0);
  assert.deepEqual([await probe.disconnects('closed'), await probe.disconnects()], [1, 1]);
});

test('a 404 on upgrade drops the leg with reason handshake', async (t) => {
  const server = await startHttpServer({ upgradeStatus: 404 });
  t.after(() => server.close());
  const probe = startLeg(wsLegOptions({ url: `ws://127.0.0.1:${server.port}/probe/ws` }));
  t.after(() => probe.close());
  const drop = await probe.nextDrop();
  assert.equal(drop.reason, 'handshake');
  assert.equal(drop.status, 404);
  assert.equal(drop.code, 'PROBE_ERR_HANDSHAKE');
  assert.equal(await probe.disconnects('handshake'), 1);
});

test('a certificate for another name drops the leg with reason tls', async (t) => {
  const echo = await startEchoServer({ listen: loopback, tls: ca.issue(['other.example.test']) });
  t.after(() => echo.close());
  const probe = startLeg(
    wsLegOptions({
      url: `wss://t3.example.test:${echo.httpAddress.port}/probe/ws`,
      resolve: { mode: 'pin', address: '127.0.0.1' },
      tls: { ca: ca.certPem, insecure: false },
    }),
  );
  t.after(() => probe.close());
  const drop = await probe.nextDrop();
  assert.equal(drop.reason, 'tls');
  assert.match(drop.code, /ERR_TLS_CERT_ALTNAME_INVALID/);
  assert.equal(await probe.disconnects('tls'), 1);
});

test('a pinned leg dials the pinned IP but keeps Host, SNI and the certificate check on the hostname', async (t) => {
  const leaf = ca.issue(['t3.example.test']);
  const snis: (string | false | null)[] = [];
  const server = await startScriptedWsServer((ws, req) => {
    snis.push((req.socket as TLSSocket).servername);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  }, leaf);
  t.after(() => server.close());
  const probe = startLeg(
    wsLegOptions({
      url: `wss://t3.example.test:${server.port}/probe/ws`,
      resolve: { mode: 'pin', address: '127.0.0.1' },
      tls: { ca: ca.certPem, insecure: false },
    }),
  );
  t.after(() => probe.close());
  await probe.up();
  assert.equal(server.upgrades[0]?.headers.host, `t3.example.test:${server.port}`);
  assert.equal(snis[0], 't3.example.test');
  assert.equal(probe.leg.snapshot().remoteAddress, '127.0.0.1');
});

test('a DoH-resolved leg resolves over HTTP/2 and connects to the answer with Host and SNI intact', async (t) => {
  const { probe, doh } = await dohResolvedLeg(t);
  await probe.up();
  assert.equal(probe.leg.snapshot().remoteAddress, '127.0.0.1');
  assert.ok(doh.queryLog.some((q) => q.name === 't3.example.test' && q.httpVersion === '2.0'));
});

test('DoH answering NXDOMAIN, or DoH being down, drops the leg with reason dns', async (t) => {
  const doh = await startDohResponder({ tls: ca.issue(['doh.example.test']), records: {} });
  t.after(() => doh.close());
  const deadPort = await freePort();
  for (const [label, port] of [
    ['nxdomain', doh.port],
    ['doh down', deadPort],
  ] as const) {
    const probe = startLeg(
      wsLegOptions({
        name: `dns-${label.replace(' ', '-')}`,
        url: 'wss://t3.example.test:443/probe/ws',
        resolve: { mode: 'doh', doh: dohOptions({ url: `https://doh.example.test:${port}/dns-query`, bootstrap: '127.0.0.1', tls: { ca: ca.certPem, insecure: false } }) },
      }),
    );
    const drop = await probe.nextDrop();
    await probe.close();
    assert.equal(drop.reason, 'dns', `${label}: ${drop.code} ${drop.message}`);
    assert.equal(drop.code, label === 'nxdomain' ? 'PROBE_ERR_DNS' : 'PROBE_ERR_DOH/ECONNREFUSED');
    assert.equal(await probe.disconnects('dns'), 1);
  }
});

test('duplicated, garbled, binary and unsolicited replies are counted and never drop the leg', async (t) => {
  const server = await startScriptedWsServer((ws) => {
    ws.on('message', (data, isBinary) => {
      ws.send(data, { binary: isBinary });
      ws.send(data, { binary: isBinary }); // duplicate
      ws.send('{"seq": "x"'); // garbled text
      ws.send(Buffer.from([0, 1, 2, 0xff]), { binary: true }); // binary junk
      ws.send('{"seq":999999999,"t":1}'); // a seq never sent
    });
  });
  t.after(() => server.close());
  const probe = startLeg(wsLegOptions({ url: server.url }));
  t.after(() => probe.close());
  await probe.up();
  await waitFor('5 answered heartbeats', async () => (await probe.heartbeats('ok')) >= 5);
  assert.ok((await probe.heartbeats('duplicate')) >= 4);
  assert.ok((await probe.heartbeats('garbled')) >= 12);
  assert.equal(await probe.disconnects(), 0);
  assert.equal(probe.leg.state, 'up');
});

test('works against a minimal third-party-style verbatim echo (plain ws, no t3-probe code)', async (t) => {
  const server = await startScriptedWsServer((ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  t.after(() => server.close());
  const probe = startLeg(wsLegOptions({ url: server.url }));
  t.after(() => probe.close());
  await probe.up();
  await waitFor('3 answered heartbeats', async () => (await probe.heartbeats('ok')) >= 3);
  assert.equal(await probe.heartbeats('garbled'), 0);
});

test('close() is graceful (close frame 1001), idempotent, and not a drop', async (t) => {
  const closeCodes: number[] = [];
  const server = await startScriptedWsServer((ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('close', (code) => closeCodes.push(code));
  });
  t.after(() => server.close());
  const probe = startLeg(wsLegOptions({ url: server.url }));
  await probe.up();
  await Promise.all([probe.close(), probe.close()]);
  assert.equal(probe.leg.state, 'closed');
  assert.equal(await probe.disconnects(), 0);
  assert.equal(await probe.connected(), 0);
  await waitFor('the far end to see the close', () => closeCodes.length === 1);
  assert.equal(closeCodes[0], 1001);
});

test('a connected DoH-resolved leg rechecks DNS and drops with reason dns when public DNS stops answering', async (t) => {
  const { probe, doh } = await dohResolvedLeg(t, { dnsRecheckMs: 200 });
  await probe.up();
  // Rechecks bypass the 60 s TTL cache: the responder sees them while the leg stays up.
  const queriesAtUp = doh.queries;
  await waitFor('two rechecks', () => doh.queries >= queriesAtUp + 2);
  assert.equal(probe.leg.state, 'up');
  doh.setFault('servfail');
  const drop = await probe.nextDrop();
  assert.equal(drop.reason, 'dns');
  assert.equal(drop.code, 'PROBE_ERR_DNS');
  assert.equal(await probe.disconnects(), 1);
  doh.setFault('none');
  await probe.up();
});

test('a far end that accepts and drops at once is not hammered: short sessions back off like failed connects', async (t) => {
  const server = await startScriptedWsServer((ws) => ws.close(1011, 'no backend'));
  t.after(() => server.close());
  const probe = startLeg(wsLegOptions({ url: server.url, backoff: { minMs: 20, maxMs: 200, factor: 2 } }));
  t.after(() => probe.close());
  const started = performance.now();
  await waitFor('5 drops', () => probe.drops.length >= 5, { timeoutMs: 10_000 });
  const elapsed = performance.now() - started;
  // Delays after drops 1..4 are at least 20, 40, 80 and 160 ms (before jitter): ≥ 300 ms in all.
  assert.ok(elapsed >= 300, `5 drops took only ${elapsed.toFixed(0)} ms`);
  assert.ok(probe.drops.every((d) => d.reason === 'closed' && d.closeCode === 1011));
  assert.equal(await probe.disconnects(), probe.drops.length, 'still one count per drop');
});
