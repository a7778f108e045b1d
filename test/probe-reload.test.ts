/**
 * Probe.applyConfig: a new config applied to a running probe. Unchanged legs keep their
 * connection and counters, removed legs take every series with them, changed legs restart, and a
 * config that changes what cannot change live is refused whole.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { isProbeError } from '../src/errors.js';
import { startEchoServer } from '../src/echo/server.js';
import { createLogger } from '../src/log.js';
import { Probe } from '../src/probe.js';
import { startScriptedWsServer } from './helpers/servers.js';
import { waitFor } from './helpers/wait.js';

async function farEnds(t: TestContext) {
  const far = await startScriptedWsServer((ws) => ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary })));
  t.after(() => far.close());
  const echo = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 }, tcpListen: { host: '127.0.0.1', port: 0 } });
  t.after(() => echo.close());
  return { far, echo, upgradesOf: (leg: string) => far.upgrades.filter((req) => req.headers['x-leg'] === leg).length };
}

/** One ws leg line, tagged so the far end can tell which leg connected. */
function wsLeg(name: string, url: string, extra = ''): string {
  return `  - { name: ${name}, kind: ws, url: "${url}", interval: 50ms, headers: { X-Leg: ${name} }${extra} }`;
}

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('a reload keeps unchanged legs, restarts changed ones, starts added ones and deletes every series of removed ones', async (t) => {
  const { far, echo, upgradesOf } = await farEnds(t);
  const before = parseConfig(
    [
      'listen: "127.0.0.1:0"',
      'legs:',
      wsLeg('kept', far.url),
      wsLeg('changed', far.url),
      wsLeg('removed', far.url),
      `  - { name: idle-gone, kind: idle, url: "tcp://127.0.0.1:${echo.tcpAddress?.port}", idle: 200ms, deadline: 1s }`,
    ].join('\n'),
  );
  const probe = new Probe(before, { processMetrics: false });
  t.after(() => probe.close());
  await probe.start({ listen: false });
  await waitFor('every leg up', () => probe.legs.every((l) => l.state === 'up'));
  await waitFor('the idle leg to survive one check', async () => (sample(await probe.metrics.render(), 't3probe_idle_checks_total{leg="idle-gone",result="survived"}') ?? 0) >= 1, { timeoutMs: 5_000 });
  const okBefore = await waitFor('a few heartbeats on kept', async () => {
    const ok = sample(await probe.metrics.render(), 't3probe_heartbeats_total{leg="kept",result="ok"}') ?? 0;
    return ok >= 3 && ok;
  });
  const keptLeg = probe.leg('kept');

  const after = parseConfig(
    ['listen: "127.0.0.1:0"', 'legs:', wsLeg('kept', far.url), wsLeg('changed', far.url, ', deadline: 2s'), wsLeg('added', far.url)].join('\n'),
  );
  const summary = await probe.applyConfig(after);
  assert.deepEqual(summary, { added: ['added'], removed: ['removed', 'idle-gone'], changed: ['changed'], kept: ['kept'] });
  assert.deepEqual(probe.legs.map((l) => l.name), ['kept', 'changed', 'added']);
  await waitFor('the changed and added legs up', () => probe.legs.every((l) => l.state === 'up'));

  // The unchanged leg is the same object on the same connection, and its counters went on.
  assert.equal(probe.leg('kept'), keptLeg);
  assert.equal(upgradesOf('kept'), 1);
  assert.equal(upgradesOf('changed'), 2, 'a changed leg reconnects');
  assert.equal(upgradesOf('added'), 1);
  const text = await probe.metrics.render();
  assert.ok((sample(text, 't3probe_heartbeats_total{leg="kept",result="ok"}') ?? 0) >= okBefore, 'kept counters are not reset');
  // Every series of a removed leg is gone: counters, gauges, histograms, idle series, leg_info.
  for (const gone of ['removed', 'idle-gone']) {
    const left = text.split('\n').filter((l) => l.includes(`leg="${gone}"`));
    assert.deepEqual(left, [], `series of ${gone} left behind`);
  }
  assert.match(text, /^t3probe_leg_info\{leg="added",kind="ws",role="public"\} 1$/m);
  assert.equal(sample(text, 't3probe_config_last_reload_success'), 1);
});

test('a reload that changes listen or metrics.prefix is refused whole, and the running legs stay', async (t) => {
  const { far, upgradesOf } = await farEnds(t);
  const running = parseConfig(['listen: "127.0.0.1:0"', 'legs:', wsLeg('a', far.url)].join('\n'));
  const probe = new Probe(running, { processMetrics: false });
  t.after(() => probe.close());
  await probe.start({ listen: false });
  await waitFor('leg a up', () => probe.leg('a')?.state === 'up');
  const text = await probe.metrics.render();
  const loadedAt = sample(text, 't3probe_config_last_reload_timestamp_seconds') ?? 0;
  assert.equal(sample(text, 't3probe_config_last_reload_success'), 1, 'set at start-up');
  assert.ok(Math.abs(loadedAt - Date.now() / 1000) < 60, `start-up load time ${loadedAt}`);

  const moved = parseConfig(['listen: "127.0.0.1:9999"', 'metrics: { prefix: other_ }', 'legs:', wsLeg('a', far.url), wsLeg('b', far.url)].join('\n'));
  await assert.rejects(probe.applyConfig(moved), (err) => {
    assert.ok(isProbeError(err) && err.code === 'PROBE_ERR_CONFIG');
    assert.match(err.message, /^listen: needs a restart to change \(running with "127\.0\.0\.1:0", the new config says "127\.0\.0\.1:9999"\)$/m);
    assert.match(err.message, /^metrics\.prefix: needs a restart to change/m);
    return true;
  });
  assert.deepEqual(probe.legs.map((l) => l.name), ['a']);
  assert.equal(probe.config, running);
  assert.equal(upgradesOf('b'), 0);
});

test('tls.insecure: true is warned about at every start, naming the leg, and on the reload that enables it', async (t) => {
  const { far } = await farEnds(t);
  const lines: { msg: string; leg?: string; level: string }[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string; leg?: string; level: string }) });
  const insecureWarnings = (): (string | undefined)[] => lines.filter((l) => l.level === 'warn' && l.msg.startsWith('tls.insecure')).map((l) => l.leg);
  const config = (insecure: readonly string[]) =>
    parseConfig(['legs:', ...['a', 'b', 'c'].map((name) => wsLeg(name, far.url, insecure.includes(name) ? ', tls: { insecure: true }' : ''))].join('\n'));
  const probe = new Probe(config(['a']), { processMetrics: false, logger });
  t.after(() => probe.close());
  await probe.start({ listen: false });
  assert.deepEqual(insecureWarnings(), ['a']);
  await probe.applyConfig(config(['a', 'b']));
  assert.deepEqual(insecureWarnings(), ['a', 'b'], 'the reload that enables it warns; a leg that stays insecure is not warned twice');
  // A second probe from the same config is a second start: it warns again.
  const again = new Probe(config(['a']), { processMetrics: false, logger });
  t.after(() => again.close());
  await again.start({ listen: false });
  assert.deepEqual(insecureWarnings(), ['a', 'b', 'a']);
});
