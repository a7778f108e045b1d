/**
 * Deadlines are judged on the time the probe ran. The far ends here live in this process, so
 * blocking its event loop stalls the probe with a request or heartbeat in flight, as a GC pause,
 * a SIGSTOP or CPU throttling would.
 */
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { ProbeError } from '../src/errors.js';
import { HeartbeatTracker } from '../src/legs/ws-heartbeat.js';
import type { HeartbeatResult } from '../src/metrics/registry.js';
import { StallMonitor } from '../src/metrics/stall-monitor.js';
import { openEchoChannel } from '../src/net/echo-channel.js';
import { NO_STALLS, type StallClock } from '../src/util/run-deadline.js';
import { httpLegOptions, startLeg } from './helpers/legs.js';
import { startHttpServer } from './helpers/servers.js';
import { waitFor } from './helpers/wait.js';

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the probe's event loop does not run
  }
}

function startedMonitor(t: { after(fn: () => void): void }): StallMonitor {
  const monitor = new StallMonitor({ tickMs: 50, thresholdMs: 250 });
  monitor.start();
  t.after(() => monitor.close());
  return monitor;
}

function tracker(deadlineMs: number, stalls: StallClock) {
  const sent: Buffer[] = [];
  const results: HeartbeatResult[] = [];
  const timeouts: ProbeError[] = [];
  const hb = new HeartbeatTracker(
    deadlineMs,
    {
      send: (frame) => sent.push(frame),
      onRtt: (_rtt, result) => results.push(result),
      onResult: (result) => results.push(result),
      onTimeout: (err) => timeouts.push(err),
    },
    stalls,
  );
  return { hb, sent, results, timeouts };
}

test('a heartbeat whose deadline passed while the probe stalled is judged on the time it ran: a reply after the stall is late', async (t) => {
  const monitor = startedMonitor(t);
  for (const stalls of [monitor, NO_STALLS]) {
    const { hb, sent, results, timeouts } = tracker(200, stalls);
    hb.beat();
    busyWait(700);
    // The far end answers only once the probe runs again (its heartbeat left late, say).
    setTimeout(() => hb.receive(sent[0]!, false), 40).unref();
    await waitFor('a result', () => results.length > 0, { timeoutMs: 2_000 });
    hb.stop();
    if (stalls === monitor) {
      assert.deepEqual(results, ['late'], 'with the stall detector: late, not a timeout');
      assert.equal(timeouts.length, 0);
    } else {
      // The contrast: on wall-clock time alone the stall is blamed on the far end.
      assert.deepEqual(results, ['timeout']);
    }
  }
});

test('a far end that really does not answer still times out after the deadline of running time, and the error says the probe stalled', async (t) => {
  const monitor = startedMonitor(t);
  const { hb, results, timeouts } = tracker(200, monitor);
  const started = performance.now();
  hb.beat();
  busyWait(700);
  await waitFor('the timeout', () => timeouts.length > 0, { timeoutMs: 3_000 });
  assert.ok(performance.now() - started >= 750, 'not before the far end had 200 ms of running time after the stall');
  assert.deepEqual(results, ['timeout']);
  assert.equal(timeouts[0]?.code, 'PROBE_ERR_HEARTBEAT_TIMEOUT');
  assert.match(timeouts[0]?.message ?? '', /deadline 200 ms\) \(the probe itself stalled for \d+ ms of that\)/);
});

test('http: an answer that arrives while the probe stalls past the request deadline is an answer, not a timeout drop', async (t) => {
  const monitor = startedMonitor(t);
  let requests = 0;
  // The far end answers the 3rd request only after blocking this process (the probe) for 800 ms,
  // far past the 300 ms deadline: the answer is in the socket when the probe runs again.
  const server = await startHttpServer({
    onRequest: (_req, res) => {
      if (++requests === 3) busyWait(800);
      res.end('ok');
    },
  });
  t.after(() => server.close());
  const leg = startLeg(httpLegOptions({ url: `http://127.0.0.1:${server.port}/probe/healthz`, intervalMs: 50, deadlineMs: 300 }), { stalls: monitor });
  t.after(() => leg.close());
  await leg.up();
  await waitFor('five requests after the stall', () => requests >= 8, { timeoutMs: 5_000 });
  assert.deepEqual(leg.drops, []);
  assert.equal(await leg.disconnects(), 0);
  assert.equal(await leg.heartbeats('timeout'), 0);
  assert.ok(monitor.totalSeconds >= 0.4, `the stall was seen: ${monitor.totalSeconds} s`);
});

test('idle/echo channel: an echo that arrives while the probe stalls past the exchange deadline completes the exchange', async (t) => {
  const monitor = startedMonitor(t);
  let chunks = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (chunk) => {
      if (++chunks === 2) busyWait(800);
      socket.write(chunk);
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  const channel = await openEchoChannel(
    { url: new URL(`tcp://127.0.0.1:${port}`), hostname: '127.0.0.1', address: '127.0.0.1', tls: { insecure: false } },
    { connectTimeoutMs: 2_000, stalls: monitor },
    AbortSignal.timeout(5_000),
  );
  t.after(() => channel.terminate());
  await channel.exchange(Buffer.from('first\n'), 300);
  const rtt = await channel.exchange(Buffer.from('second\n'), 300);
  assert.ok(rtt >= 0.7, `the echo came back after the stall (${rtt} s), and counts`);
});
