/**
 * The fault matrix: every fault on every segment of a real multi-hop lab (unbound DoH, haproxy
 * edge and lb, dispatch and serve processes; see segment-lab.ts), with the real probe and the
 * real `t3-probe attribute` CLI in the client namespace, and a real Prometheus scraping the probe
 * as job t3-probe. Each case asserts the verdict; the table of results is written to
 * docs/fault-matrix.md, which the README links to.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import type { Verdict, VerdictKind } from '../../src/attribution/verdict.js';
import type { ProbeStatus } from '../../src/probe.js';
import { PROMETHEUS_BIN } from '../helpers/prometheus.js';
import { requireBinary } from '../helpers/system.js';
import { waitFor } from '../helpers/wait.js';
import { requireLab } from './netns.js';
import { createSegmentLab, type Fault, type Segment, type SegmentLab } from './segment-lab.js';

const CLI = new URL('../../dist/cli.js', import.meta.url).pathname;
const PROBE = 'http://127.0.0.1:9464';
const PROM = 'http://127.0.0.1:9090';

interface Case {
  readonly segment: Segment | 'none';
  readonly fault: Fault | 'none';
  /** Legs whose drop proves the fault landed. */
  readonly legs: readonly string[];
  readonly verdict: VerdictKind;
}

const WS = ['cloudflare', 'internal'];
const ALL_FAULTS = ['blackhole', 'reset', 'kill', 'stall', 'conntrack-flush'] as const;
/** Which legs each segment carries, and what the attribution table says about it. */
const SEGMENT_EXPECTATIONS: readonly { segment: Segment; legs: readonly string[]; verdict: VerdictKind }[] = [
  { segment: 'edge', legs: ['cloudflare'], verdict: 'cdn_edge_or_wan' },
  { segment: 'lb', legs: WS, verdict: 'traefik_dispatch_or_host' },
  { segment: 'dispatch', legs: WS, verdict: 'traefik_dispatch_or_host' },
  { segment: 'serve', legs: ['t3serve'], verdict: 'serve_process' },
  { segment: 'doh', legs: ['cloudflare'], verdict: 'public_dns' },
];
const CASES: Case[] = SEGMENT_EXPECTATIONS.flatMap(({ segment, legs, verdict }) =>
  ALL_FAULTS.flatMap((fault): Case[] => {
    if (fault !== 'conntrack-flush') return [{ segment, fault, legs, verdict }];
    // dispatch and serve share the host namespace: a conntrack flush there breaks every leg
    // (the host's reachability). DoH queries are short-lived connections: nothing to break.
    if (segment === 'serve') return [{ segment, fault, legs: [...WS, 't3serve'], verdict: 'traefik_dispatch_or_host' }];
    if (segment === 'dispatch' || segment === 'doh') return [];
    return [{ segment, fault, legs, verdict }];
  }),
);

/** Run a node snippet in the client namespace and return stdout. */
async function inClient(lab: SegmentLab, script: string): Promise<string> {
  const { stdout } = await lab.lab.exec(lab.ns.client, process.execPath, '-e', script);
  return stdout;
}

async function status(lab: SegmentLab): Promise<ProbeStatus> {
  return JSON.parse(await inClient(lab, `fetch('${PROBE}/status').then(r => r.text()).then(t => process.stdout.write(t))`)) as ProbeStatus;
}

async function attributeIn(lab: SegmentLab, source: string[], at: number, windowMs: number): Promise<Verdict> {
  const { stdout } = await lab.lab.exec(
    lab.ns.client,
    process.execPath,
    CLI,
    'attribute',
    ...source,
    '--at',
    new Date(at).toISOString(),
    '--window',
    `${windowMs}ms`,
    '--burst',
    '3s',
    '--json',
  );
  return JSON.parse(stdout) as Verdict;
}

test('fault matrix: every fault on every segment yields the right verdict, from the probe and from Prometheus', { timeout: 600_000 }, async (t) => {
  if (!requireLab(t)) return;
  if (!requireBinary(t, PROMETHEUS_BIN, 'prometheus')) return;
  const lab = await createSegmentLab(t);
  const config = await lab.writeProbeConfig({
    interval: '250ms',
    deadline: '750ms',
    backoffMin: '100ms',
    backoffMax: '500ms',
    dnsRecheck: '500ms',
    listen: '127.0.0.1:9464',
  });
  const probe = lab.spawnInClient(process.execPath, [CLI, 'run', '--config', config, '--log-level', 'warn']);
  const prometheus = await startPrometheusInClient(lab);
  t.after(() => {
    probe.kill('SIGKILL');
    prometheus.kill('SIGKILL');
  });
  const allUp = async (): Promise<boolean> => (await status(lab)).legs.every((l) => l.state === 'up');
  await waitFor('every leg up through the lab', allUp, { timeoutMs: 30_000, everyMs: 200 });
  // The Prometheus half rebuilds every case from scrapes: the first case must not start before
  // Prometheus has scraped the probe at all (ready is not scraped; its first scrape can lag).
  const promQuery = `fetch('${PROM}/api/v1/query?query=' + encodeURIComponent('count(t3probe_leg_info)')).then(r => r.json()).then(j => process.stdout.write(String(j.data.result.length))).catch(() => process.stdout.write('0'))`;
  await waitFor('Prometheus to have scraped the probe', async () => (await inClient(lab, promQuery)) === '1', { timeoutMs: 20_000, everyMs: 250 });

  const rows: string[] = [];
  const results: { c: Case; t0: number; verdict: Verdict }[] = [];

  // No fault: a user drops while every leg stays clean. Wait until the legs have been up for a
  // while (a condition, not a sleep), then ask about the quiet stretch just behind us.
  await waitFor('two quiet seconds', async () => (await status(lab)).legs.every((l) => Date.now() - Date.parse(l.since) > 2_500), {
    timeoutMs: 15_000,
    everyMs: 250,
  });
  const quietAt = Date.now() - 1_200;
  const quiet = await attributeIn(lab, ['--probe', PROBE], quietAt, 1_000);
  assert.equal(quiet.verdict, 'exonerated', quiet.summary);
  rows.push(`| none | a user drops, no fault | none | \`exonerated\` | \`${quiet.verdict}\` |`);

  for (const c of CASES) {
    const label = `${c.fault} on ${c.segment}`;
    const t0 = Date.now();
    const heal = await lab.inject(c.segment as Segment, c.fault as Fault);
    try {
      await waitFor(
        `${label}: ${c.legs.join(', ')} to drop`,
        async () => {
          const s = await status(lab);
          return c.legs.every((leg) => (s.legs.find((l) => l.name === leg)?.lastDrop?.at ?? 0) >= t0);
        },
        { timeoutMs: 10_000, everyMs: 150 },
      );
      // The window starts at the injection, so earlier cases never leak in.
      const windowMs = 4_000;
      const verdict = await attributeIn(lab, ['--probe', PROBE], t0 + windowMs, windowMs);
      results.push({ c, t0, verdict });
      const dropped = verdict.bursts.flatMap((b) => b.drops.map((d) => `${d.leg}:${d.reason}`)).join(', ');
      rows.push(`| ${c.segment} | ${c.fault} | ${dropped} | \`${c.verdict}\` | \`${verdict.verdict}\` |`);
      assert.equal(verdict.verdict, c.verdict, `${label}: ${verdict.summary}`);
      for (const leg of c.legs) assert.ok(verdict.droppedLegs.includes(leg), `${label}: ${leg} should have dropped`);
    } finally {
      await heal();
    }
    await waitFor(`${label}: every leg back up`, allUp, { timeoutMs: 20_000, everyMs: 150 });
  }

  // The same verdicts, rebuilt from Prometheus' history instead of the probe's ring. Each window
  // runs from the case's injection to just before the next one, so cases never overlap.
  for (const [i, { c, t0 }] of results.entries()) {
    const end = Math.min(t0 + 8_000, (results[i + 1]?.t0 ?? Number.POSITIVE_INFINITY) - 1);
    const half = Math.floor((end - t0) / 2);
    const verdict = await attributeIn(lab, ['--prometheus', PROM], t0 + half, half);
    assert.equal(verdict.verdict, c.verdict, `Prometheus, ${c.fault} on ${c.segment}: ${verdict.summary}`);
  }

  // The runbook queries, verbatim, through the real PromQL API.
  const query = async (expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> =>
    JSON.parse(
      await inClient(lab, `fetch('${PROM}/api/v1/query?query=' + encodeURIComponent(${JSON.stringify(expr)})).then(r => r.json()).then(j => process.stdout.write(JSON.stringify(j.data.result)))`),
    ) as { metric: Record<string, string>; value: [number, string] }[];
  const increases = await query('increase(t3probe_disconnects_total[1h])');
  const droppedBy = (leg: string, reason: string): number => Number(increases.find((s) => s.metric.leg === leg && s.metric.reason === reason)?.value[1] ?? 0);
  assert.ok(droppedBy('cloudflare', 'dns') > 0, 'DoH faults show as cloudflare/dns');
  assert.ok(droppedBy('t3serve', 'timeout') > 0, 'the serve stall shows as t3serve/timeout');
  assert.ok(droppedBy('internal', 'timeout') > 0, 'blackholes show as timeouts');
  const connected = await query('t3probe_connected');
  assert.deepEqual(connected.map((s) => [s.metric.leg, s.metric.job]).sort(), [
    ['cloudflare', 't3-probe'],
    ['internal', 't3-probe'],
    ['t3serve', 't3-probe'],
  ]);
  const p99 = await query('histogram_quantile(0.99, rate(t3probe_rtt_seconds_bucket{leg="t3serve"}[15m]))');
  assert.equal(p99.length, 1);
  assert.ok(Number(p99[0]?.value[1]) > 0);

  // The result table is a document of its own (docs/fault-matrix.md, linked from the README),
  // written by this run so it always shows what the code did, not what someone typed.
  await mkdir(new URL('../../docs/', import.meta.url), { recursive: true });
  await writeFile(new URL('../../docs/fault-matrix.md', import.meta.url), faultMatrixDocument(rows));
});

function faultMatrixDocument(rows: readonly string[]): string {
  return [
    '# The fault matrix',
    '',
    '<!-- Generated by test/lab/fault-matrix.test.ts on every run; edit the test, not this file. -->',
    '',
    'The production path built from network namespaces and real software: a real **unbound**',
    'answering DoH (HTTP/2) for the public hostname, **haproxy** as the TLS-terminating CDN edge and',
    'as the load balancer, and t3-probe echo servers as dispatch and serve. The probe and a real',
    '**Prometheus** (job `t3-probe`) run in the client namespace. Every fault is injected on every',
    'segment, and `t3-probe attribute` must name it, first from the probe\'s `/status` ring and then',
    "again from Prometheus' history; the runbook queries are checked through the PromQL API at the end.",
    '',
    '- **blackhole** and **reset**: nft rules on the segment\'s ports;',
    '- **kill**: SIGKILL, then restart; **stall**: SIGSTOP, then SIGCONT;',
    '- **conntrack-flush**: `conntrack -F` in the hop\'s namespace, with `ct state invalid drop`, so',
    '  established connections break while new ones work. dispatch and serve share the host',
    '  namespace, so a flush there breaks every leg.',
    '',
    'Run it (root): `node --import tsx --test test/lab/fault-matrix.test.ts`. The last run:',
    '',
    '| segment | fault | drops seen (leg:reason) | expected verdict | verdict |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

async function startPrometheusInClient(lab: SegmentLab) {
  const dir = await (await import('node:fs/promises')).mkdtemp('/tmp/t3-matrix-prom-');
  // Scraped every 250 ms, the probe's own heartbeat interval here: a reset heals in under a second,
  // and the next case can start before a 1 s scrape has seen this one's drop.
  await writeFile(
    `${dir}/prometheus.yml`,
    ['global:', '  scrape_interval: 250ms', 'scrape_configs:', '  - job_name: t3-probe', '    static_configs:', '      - targets: ["127.0.0.1:9464"]'].join('\n'),
  );
  const prom = lab.spawnInClient(PROMETHEUS_BIN, [
    `--config.file=${dir}/prometheus.yml`,
    `--storage.tsdb.path=${dir}/data`,
    '--web.listen-address=127.0.0.1:9090',
    '--log.level=warn',
  ]);
  void prom.exited.then(() => import('node:fs/promises').then((fs) => fs.rm(dir, { recursive: true, force: true })));
  await waitFor(
    'Prometheus in the client namespace',
    async () => (await inClient(lab, `fetch('${PROM}/-/ready').then(r => process.stdout.write(String(r.ok))).catch(() => process.stdout.write('false'))`)) === 'true',
    { timeoutMs: 20_000, everyMs: 200 },
  );
  return prom;
}
