/**
 * The probe's own port faces whatever can reach it inside the cluster. A client that never finishes
 * its headers must be cut within the documented bound, not Node's 30 s check interval later.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import test from 'node:test';
import { silentLogger } from '../../src/log.js';
import { PROBE_SERVER_HEADERS_TIMEOUT_MS, startProbeServer } from '../../src/server/probe-server.js';
import { rawConnect, readUntilClose } from '../helpers/raw-http.js';

test('a slowloris client on the probe port is cut within headersTimeout + 1 s', async (t) => {
  const server = await startProbeServer(
    {
      ready: true,
      status: () => ({}),
      metrics: { exposition: async function* () {} },
      log: silentLogger,
      statusWindow: { windowMs: 120_000, burstMs: 3_000 },
    },
    { host: '127.0.0.1', port: 0 },
  );
  t.after(() => server.close());
  const socket = await rawConnect(server.address.port);
  const started = performance.now();
  socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
  // One more header byte a second: never a complete request.
  const drip = setInterval(() => socket.write('X'), 1_000);
  t.after(() => clearInterval(drip));
  const body = await readUntilClose(socket);
  const elapsed = performance.now() - started;
  assert.ok(elapsed < PROBE_SERVER_HEADERS_TIMEOUT_MS + 1_500, `closed after ${Math.round(elapsed)} ms`);
  assert.ok(elapsed >= PROBE_SERVER_HEADERS_TIMEOUT_MS - 50, `closed early, after ${Math.round(elapsed)} ms`);
  assert.equal(body.toString('latin1'), '', 'no response body to a request that never finished');
});
