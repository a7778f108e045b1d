/**
 * Where a heartbeat's garbage comes from: N ws legs run against an echo in a child process while
 * V8's sampling heap profiler records every allocation (those already collected included) for a
 * while; allocation sites are printed as bytes per heartbeat, largest first.
 *
 * With --live, only what is still alive at the end (what survives and must be promoted).
 *
 *   npm run bench:alloc -- [--legs 2000] [--seconds 10] [--top 30] [--live]
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import inspector from 'node:inspector/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { wsLegsConfig } from './ws-legs-config.js';
import { Probe } from '../src/probe.js';

const { values } = parseArgs({
  options: { legs: { type: 'string', default: '2000' }, seconds: { type: 'string', default: '10' }, top: { type: 'string', default: '30' }, live: { type: 'boolean', default: false }, promoted: { type: 'boolean', default: false }, 'render-every': { type: 'string', default: '0' } },
});
const LEGS = Number(values.legs);

interface ProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly ProfileNode[];
}

const child = fork(path.join(import.meta.dirname, `ws-legs-far-end${path.extname(import.meta.filename)}`), { stdio: 'inherit' });
const [{ port }] = (await once(child, 'message')) as [{ port: number }];
try {
  const config = wsLegsConfig(LEGS, [port], 'default');
  const probe = new Probe(config, { processMetrics: false });
  let beats = 0;
  for (const leg of probe.legs) leg.on('heartbeat', () => beats++);
  await probe.start({ listen: false });
  while (!probe.legs.every((l) => l.state === 'up')) await delay(50);
  await delay(3_000);
  const session = new inspector.Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: !values.live,
    includeObjectsCollectedByMinorGC: !values.live && !values.promoted,
  });
  const beats0 = beats;
  // With --render-every S, /metrics is rendered (and thrown away) every S seconds meanwhile, as a scrape would.
  const renderEveryMs = Number(values['render-every']) * 1000;
  let renders = 0;
  const rendering = (async () => {
    if (!(renderEveryMs > 0)) return;
    const until = performance.now() + Number(values.seconds) * 1000;
    while (performance.now() + renderEveryMs < until) {
      await delay(renderEveryMs);
      for await (const chunk of probe.metrics.exposition('prometheus')) void chunk;
      renders++;
    }
  })();
  await delay(Number(values.seconds) * 1000);
  await rendering;
  // What survived a scavenge: collect the young generation once more, so what is still young and dead is not counted.
  if (values.promoted) (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc?.({ type: 'minor' });
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: ProfileNode } };
  const measured = beats - beats0;
  session.disconnect();
  await probe.close();
  const bySite = new Map<string, number>();
  const walk = (node: ProfileNode, parent: string): void => {
    const { functionName, url, lineNumber } = node.callFrame;
    const site = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
    if (node.selfSize > 0) bySite.set(`${site}  <  ${parent}`, (bySite.get(`${site}  <  ${parent}`) ?? 0) + node.selfSize);
    for (const c of node.children) walk(c, site);
  };
  walk(profile.head, '(root)');
  const total = [...bySite.values()].reduce((a, b) => a + b, 0);
  console.log(`${LEGS} legs, ${measured} heartbeats: ${(total / measured).toFixed(0)} bytes ${values.live ? 'allocated and still alive at the end' : values.promoted ? 'allocated and surviving a scavenge (promoted)' : 'allocated'} per heartbeat (sampled)${renders > 0 ? `, ${renders} renders of /metrics meanwhile` : ''}`);
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) console.log(`${(bytes / measured).toFixed(0).padStart(6)} B  ${site}`);
} finally {
  child.disconnect();
}
