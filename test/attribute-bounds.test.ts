/**
 * attribute reads /status and the Prometheus API as untrusted input: a body with no length that
 * never ends is cut at the bound, not buffered whole.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'node:test';
import { readProbeSource } from '../src/attribution/probe-source.js';
import { readPrometheusSource } from '../src/attribution/prometheus-source.js';
import { ProbeError } from '../src/errors.js';

const MiB = 1024 * 1024;

/** A server that streams chunked JSON-looking bytes, without a length, up to `limit` bytes. */
async function endlessServer(t: test.TestContext, limit: number): Promise<{ url: string; sent: () => number }> {
  let sent = 0;
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"legs":[');
    const pump = (): void => {
      while (sent < limit && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.on('close', () => res.removeAllListeners('drain'));
    pump();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sent: () => sent };
}

test('attribute --probe: a /status body without a length is cut at 8 MiB, not read to its end', async (t) => {
  const server = await endlessServer(t, 512 * MiB);
  const now = Date.now();
  const err = await readProbeSource(new URL(server.url), now, 60_000, now, AbortSignal.timeout(30_000)).catch((e: unknown) => e);
  assert.ok(err instanceof ProbeError, String(err));
  assert.equal(err.code, 'PROBE_ERR_SOURCE');
  assert.match(err.message, /larger than 8388608 bytes/);
  assert.ok(server.sent() < 64 * MiB, `the server got to send ${server.sent()} bytes`);
});

test('attribute --prometheus: an API body without a length is cut at 64 MiB, not read to its end', async (t) => {
  const server = await endlessServer(t, 1024 * MiB);
  const now = Date.now();
  const source = { url: new URL(server.url), job: 't3-probe', prefix: 't3probe_' };
  const err = await readPrometheusSource(source, now, 60_000, now, AbortSignal.timeout(60_000)).catch((e: unknown) => e);
  assert.ok(err instanceof ProbeError, String(err));
  assert.equal(err.code, 'PROBE_ERR_SOURCE');
  assert.match(err.message, /larger than 67108864 bytes/);
  assert.ok(server.sent() < 256 * MiB, `the server got to send ${server.sent()} bytes`);
});
