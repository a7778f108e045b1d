/**
 * Live reload of the shipped CLI (dist/): SIGHUP, an editor-style save (write a temp file, rename
 * it over the config) and a Kubernetes ConfigMap update (a `..data` symlink swap) each reload the
 * config of a running `t3-probe run`, and a bad config is refused with the start-up error text.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { runCli, startCli, type CliProcess } from '../helpers/cli.js';
import { startScriptedWsServer } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 't3-reload-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function farEnd(t: TestContext) {
  const far = await startScriptedWsServer((ws) => ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary })));
  t.after(() => far.close());
  return { far, upgradesOf: (leg: string) => far.upgrades.filter((req) => req.headers['x-leg'] === leg).length };
}

function configText(url: string, legs: readonly string[], extra = ''): string {
  return [extra, 'legs:', ...legs.map((name) => `  - { name: ${name}, kind: ws, url: "${url}", interval: 50ms, headers: { X-Leg: ${name} } }`)].join('\n');
}

/** Replace a file the way editors do: write a temp file next to it, rename it over. */
async function saveByRename(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

async function metricsOf(run: CliProcess): Promise<string> {
  const base = /"listen":"(http:\/\/[^"]+)"/.exec(run.stdout())?.[1];
  assert.ok(base, 'the probe logged its address');
  return (await fetch(`${base}/metrics`)).text();
}

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function reloads(run: CliProcess, msg: string) {
  return run.logs().filter((l) => l.msg === msg);
}

test('an editor-style save reloads: the kept leg keeps its connection and counters, the removed leg loses its series', async (t) => {
  const { far, upgradesOf } = await farEnd(t);
  const file = path.join(await tempDir(t), 'probe.yaml');
  await writeFile(file, configText(far.url, ['kept', 'gone']));
  const run = startCli(t, ['run', '--config', file], { T3PROBE_LISTEN: '127.0.0.1:0' });
  const okBefore = await waitFor('heartbeats on both legs', async () => {
    const text = await metricsOf(run);
    const ok = sample(text, 't3probe_heartbeats_total{leg="kept",result="ok"}') ?? 0;
    return ok >= 3 && (sample(text, 't3probe_connected{leg="gone"}') ?? 0) === 1 && ok;
  });
  await saveByRename(file, configText(far.url, ['kept', 'new']));
  await waitFor('the reload', () => reloads(run, 'config reloaded').length === 1);
  const [summary] = reloads(run, 'config reloaded');
  assert.deepEqual([summary?.['added'], summary?.['removed'], summary?.['kept']], [['new'], ['gone'], ['kept']]);
  const text = await waitFor('the new leg up', async () => {
    const body = await metricsOf(run);
    return sample(body, 't3probe_connected{leg="new"}') === 1 && body;
  });
  assert.equal(upgradesOf('kept'), 1, 'the kept leg never reconnected');
  assert.ok((sample(text, 't3probe_heartbeats_total{leg="kept",result="ok"}') ?? 0) >= okBefore, 'counters are not reset');
  assert.deepEqual(text.split('\n').filter((l) => l.includes('leg="gone"')), []);
  assert.equal(sample(text, 't3probe_config_last_reload_success'), 1);
  run.child.kill('SIGTERM');
  assert.equal(await run.exit, 0);
});

test('a Kubernetes-style ..data symlink swap reloads, and SIGHUP reloads even when the file did not change', async (t) => {
  const { far, upgradesOf } = await farEnd(t);
  const dir = await tempDir(t);
  // The layout kubelet gives a mounted ConfigMap: probe.yaml -> ..data/probe.yaml, ..data -> ..v1.
  await mkdir(path.join(dir, '..v1'));
  await writeFile(path.join(dir, '..v1', 'probe.yaml'), configText(far.url, ['a']));
  await symlink('..v1', path.join(dir, '..data'));
  await symlink('..data/probe.yaml', path.join(dir, 'probe.yaml'));
  const run = startCli(t, ['run', '--config', path.join(dir, 'probe.yaml')], { T3PROBE_LISTEN: '127.0.0.1:0' });
  await waitFor('leg a up', async () => sample(await metricsOf(run), 't3probe_connected{leg="a"}') === 1);

  await mkdir(path.join(dir, '..v2'));
  await writeFile(path.join(dir, '..v2', 'probe.yaml'), configText(far.url, ['a', 'b']));
  await symlink('..v2', path.join(dir, '..data_tmp'));
  await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  await waitFor('leg b up after the swap', async () => sample(await metricsOf(run), 't3probe_connected{leg="b"}') === 1);
  assert.equal(reloads(run, 'config reloaded').length, 1);

  const loadedAt = sample(await metricsOf(run), 't3probe_config_last_reload_timestamp_seconds') ?? 0;
  run.child.kill('SIGHUP');
  await waitFor('the SIGHUP reload', () => reloads(run, 'config reload').some((l) => l['trigger'] === 'SIGHUP') && reloads(run, 'config reloaded').length === 2);
  assert.deepEqual(reloads(run, 'config reloaded')[1]?.['kept'], ['a', 'b']);
  assert.ok((sample(await metricsOf(run), 't3probe_config_last_reload_timestamp_seconds') ?? 0) >= loadedAt);
  assert.deepEqual([upgradesOf('a'), upgradesOf('b')], [1, 1]);
  run.child.kill('SIGTERM');
  assert.equal(await run.exit, 0);
});

test('a bad config is refused with the start-up error text, the old config keeps running, and the metrics say so', async (t) => {
  const { far, upgradesOf } = await farEnd(t);
  const dir = await tempDir(t);
  const file = path.join(dir, 'probe.yaml');
  await writeFile(file, configText(far.url, ['a']));
  const run = startCli(t, ['run', '--config', file], { T3PROBE_LISTEN: '127.0.0.1:0' });
  await waitFor('leg a up', async () => sample(await metricsOf(run), 't3probe_connected{leg="a"}') === 1);

  const bad = `${configText(far.url, ['a'])}\n  - { name: b, kind: ws, url: "${far.url}", deadline: -5s }\n`;
  // What start-up says about the same file, as the operator would see it.
  const badCopy = path.join(dir, 'copy', 'probe.yaml');
  await mkdir(path.dirname(badCopy));
  await writeFile(badCopy, bad);
  const check = await runCli(t, ['run', '--config', badCopy, '--check']);
  assert.equal(check.code, 2);
  const startupText = check.stderr.split('\n').slice(1).filter(Boolean).map((l) => l.trim().replace(badCopy, file)).join('\n');
  assert.match(startupText, /probe\.yaml:\d+:\d+: legs\[1\] \(b\)\.deadline: /);

  await saveByRename(file, bad);
  const rejected = await waitFor('the rejection', () => reloads(run, 'config reload rejected: the running config stays')[0]);
  assert.equal(rejected['error'], startupText);
  assert.equal(rejected['code'], 'PROBE_ERR_CONFIG');
  let text = await metricsOf(run);
  assert.equal(sample(text, 't3probe_config_last_reload_success'), 0);
  assert.equal(sample(text, 't3probe_connected{leg="a"}'), 1, 'the old config keeps running');
  assert.equal(upgradesOf('a'), 1);

  // The metrics prefix cannot change live: refused the same way, naming the key.
  await saveByRename(file, configText(far.url, ['a'], 'metrics: { prefix: other_ }'));
  const restart = await waitFor('the prefix change refused', () => reloads(run, 'config reload rejected: the running config stays')[1]);
  assert.match(String(restart['error']), /^metrics\.prefix: needs a restart to change \(running with "t3probe_", the new config says "other_"\)$/);

  await saveByRename(file, configText(far.url, ['a', 'b']));
  text = await waitFor('the fixed config applied', async () => {
    const body = await metricsOf(run);
    return sample(body, 't3probe_config_last_reload_success') === 1 && body;
  });
  assert.equal(upgradesOf('a'), 1);
  run.child.kill('SIGTERM');
  assert.equal(await run.exit, 0);
});
