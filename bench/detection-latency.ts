/**
 * Detection latency in a namespace lab (root): the Swarm-VIP lab of test/lab/vip-lab.ts
 * (client ── router, DNAT to the VIP ── server running `t3-probe echo`), with `t3-probe run`
 * holding one ws leg to the VIP from the client namespace, and the real blackbox_exporter probing
 * the same path (http module, `http://VIP:8080/probe/healthz`) once a second from the same
 * namespace. Each fault, `--trials` times, injected at a random phase of the heartbeat:
 *   - blackhole:     the router drops the server's traffic both ways (silent)
 *                    goal: every trial ≤ interval + deadline;
 *   - reset:         the server's kernel aborts the connection (`ss -K`): an RST on the wire at once
 *                    goal: < 100 ms;
 *   - reject:        the router answers the server's traffic with a TCP reset: the probe hears it
 *                    at its next heartbeat (figure only: bounded by the interval);
 *   - conntrack-flush: `conntrack -F` in the router, with `ct state invalid drop` and
 *                    nf_conntrack_tcp_loose=0: established connections stall, new ones work
 *                    goal: ≤ interval + deadline.
 * Detection is the time from the injection to the probe's `leg dropped` log line (the same
 * moment its disconnects counter moves). For blackbox_exporter: the time to the first
 * probe_success 0 it returned, and how many of its probes during the fault failed.
 * Figures only: no pass or fail.
 *
 *   npm run build && node --import tsx bench/detection-latency.ts [--trials 10] [--faults blackhole,reset,reject,conntrack-flush]
 *     [--interval 1000] [--deadline 2000] [--hold 3500]   (ms)
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { createVipLab, SERVER_IP, VIP, WS_PORT, type VipLab } from '../test/lab/vip-lab.js';
import type { LabProcess } from '../test/lab/netns.js';
import { waitFor } from '../test/helpers/wait.js';
import { loadLine, machineLine, percentile } from './proc-stats.js';

const FAULTS = ['blackhole', 'reset', 'reject', 'conntrack-flush'] as const;
type Fault = (typeof FAULTS)[number];

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '10' },
    faults: { type: 'string', default: FAULTS.join(',') },
    interval: { type: 'string', default: '1000' },
    deadline: { type: 'string', default: '2000' },
    hold: { type: 'string', default: '3500' },
  },
});
const TRIALS = Number(values.trials);
const INTERVAL_MS = Number(values.interval);
const DEADLINE_MS = Number(values.deadline);
const FAULT_LIST = values.faults.split(',').map((f) => {
  if (!(FAULTS as readonly string[]).includes(f)) throw new Error(`--faults: unknown fault ${JSON.stringify(f)} (expected ${FAULTS.join(', ')})`);
  return f as Fault;
});
const BLACKBOX_BIN = '/usr/bin/prometheus-blackbox-exporter';
const BLACKBOX_LISTEN = '127.0.0.1:9115';
/** The fault stays at least this long (ms), so blackbox_exporter probes through it a few times. */
const HOLD_MS = Number(values.hold);

const GOALS: Record<Fault, { ms: number; label: string } | undefined> = {
  blackhole: { ms: INTERVAL_MS + DEADLINE_MS, label: '≤ interval + deadline' },
  reset: { ms: 100, label: '< 100 ms' },
  reject: undefined,
  'conntrack-flush': { ms: INTERVAL_MS + DEADLINE_MS, label: '≤ interval + deadline' },
};

/** The blackbox poller, run in the client namespace: one probe a second, one JSON line each. */
const POLLER = `
const url = 'http://${BLACKBOX_LISTEN}/probe?module=http_2xx&target=' + encodeURIComponent('http://${VIP}:${WS_PORT}/probe/healthz');
setInterval(async () => {
  const start = Date.now();
  let ok = 0;
  try { ok = /^probe_success 1$/m.test(await (await fetch(url)).text()) ? 1 : 0; } catch {}
  process.stdout.write(JSON.stringify({ start, end: Date.now(), ok }) + '\\n');
}, 1000);
`;

interface BlackboxProbe {
  readonly start: number;
  readonly end: number;
  readonly ok: 0 | 1;
}

interface Trial {
  readonly detectMs: number | undefined;
  readonly reason: string | undefined;
  /** How long the injecting command itself took (spawning ip netns exec, nft, ss, conntrack). */
  readonly injectMs: number;
  readonly blackboxProbes: number;
  readonly blackboxFailed: number;
  readonly blackboxFirstFailMs: number | undefined;
}

function blackboxProbes(poller: LabProcess): BlackboxProbe[] {
  return poller.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as BlackboxProbe);
}

/** Whether the probe's last state line about its leg says it is up. */
function legIsUp(probe: LabProcess): boolean {
  const last = probe
    .logLines()
    .filter((l) => l.msg === 'leg up' || l.msg === 'leg recovered' || l.msg === 'leg dropped')
    .at(-1);
  return last !== undefined && last.msg !== 'leg dropped';
}

function drops(probe: LabProcess): { at: number; reason: string }[] {
  return probe
    .logLines()
    .filter((l) => l.msg === 'leg dropped')
    .map((l) => ({ at: Date.parse(String(l.time)), reason: String(l.reason) }));
}

async function inject(vip: VipLab, fault: Fault): Promise<() => Promise<void>> {
  const { lab, router, server } = vip;
  switch (fault) {
    case 'blackhole':
    case 'reject': {
      // After the DNAT, so the forward chain sees the server's real address, both ways.
      const verdict = fault === 'blackhole' ? 'drop' : 'reject with tcp reset';
      await lab.nft(
        router,
        `table inet t3bench {\n  chain f {\n    type filter hook forward priority filter - 10;\n    ip daddr ${SERVER_IP} tcp dport ${WS_PORT} ${verdict}\n    ip saddr ${SERVER_IP} tcp sport ${WS_PORT} ${verdict}\n  }\n}`,
      );
      return () => lab.nft(router, 'delete table inet t3bench');
    }
    case 'reset':
      await lab.exec(server, 'ss', '-K', 'state', 'established', 'sport', '=', `:${WS_PORT}`);
      return () => Promise.resolve();
    case 'conntrack-flush':
      await lab.exec(router, 'conntrack', '-F');
      return () => Promise.resolve();
  }
}

async function runTrial(vip: VipLab, probe: LabProcess, poller: LabProcess, fault: Fault): Promise<Trial> {
  // Up, and for a random part of an interval: the fault lands at a random phase of the heartbeat.
  await waitFor('the leg up', () => legIsUp(probe), { timeoutMs: 20_000, everyMs: 50 });
  await delay(INTERVAL_MS + Math.random() * INTERVAL_MS);
  const t0 = Date.now();
  const heal = await inject(vip, fault);
  const injectMs = Date.now() - t0;
  let drop: { at: number; reason: string } | undefined;
  try {
    drop = await waitFor('the probe to drop', () => drops(probe).find((d) => d.at >= t0), { timeoutMs: 4 * (INTERVAL_MS + DEADLINE_MS), everyMs: 20 }).catch(() => undefined);
    const holdUntil = t0 + HOLD_MS;
    if (Date.now() < holdUntil) await delay(holdUntil - Date.now());
  } finally {
    await heal();
  }
  const healedAt = Date.now();
  const during = blackboxProbes(poller).filter((p) => p.start >= t0 && p.start < healedAt);
  const firstFail = during.find((p) => p.ok === 0);
  return {
    detectMs: drop === undefined ? undefined : drop.at - t0,
    reason: drop?.reason,
    injectMs,
    blackboxProbes: during.length,
    blackboxFailed: during.filter((p) => p.ok === 0).length,
    blackboxFirstFailMs: firstFail === undefined ? undefined : firstFail.end - t0,
  };
}

async function main(): Promise<void> {
  const missing = [
    process.getuid?.() === 0 ? undefined : 'root',
    ...['/usr/sbin/ip', '/usr/sbin/nft', '/usr/sbin/conntrack', '/usr/bin/ss', BLACKBOX_BIN].map((f) => (existsSync(f) ? undefined : f)),
  ].filter((m) => m !== undefined);
  if (missing.length > 0) {
    console.log(`detection-latency: skipped: needs ${missing.join(', ')}`);
    process.exitCode = 1;
    return;
  }
  console.log(machineLine());
  console.log(`# detection-latency: ${TRIALS} trials per fault, interval ${INTERVAL_MS} ms, deadline ${DEADLINE_MS} ms; blackbox_exporter http module every 1 s`);
  const cleanups: (() => unknown)[] = [];
  // The lab is written for node:test; it only needs somewhere to register its teardown.
  const context = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;
  try {
    const vip = await createVipLab(context, { conntrackTimeoutS: 3_600, invalid: 'drop' });
    const dir = vip.lab.tempDir();
    const config = path.join(dir, 'probe.yaml');
    await writeFile(
      config,
      stringify({
        listen: '127.0.0.1:9464',
        defaults: { interval: `${INTERVAL_MS}ms`, deadline: `${DEADLINE_MS}ms`, backoff: { min: '100ms', max: '500ms' } },
        legs: [{ name: 'vip', kind: 'ws', url: `ws://${VIP}:${WS_PORT}/probe/ws` }],
      }),
    );
    const bbConfig = path.join(dir, 'blackbox.yml');
    await writeFile(bbConfig, 'modules:\n  http_2xx:\n    prober: http\n    timeout: 900ms\n');
    const blackbox = vip.lab.spawn(vip.client, BLACKBOX_BIN, [`--config.file=${bbConfig}`, `--web.listen-address=${BLACKBOX_LISTEN}`]);
    const probe = vip.cli(['run', '--config', config, '--log-level', 'info']);
    await waitFor('blackbox_exporter to listen', () => blackbox.stderr.includes('Listening on'), { timeoutMs: 10_000, everyMs: 50 }).catch(() => undefined);
    const poller = vip.lab.spawn(vip.client, process.execPath, ['-e', POLLER]);
    await waitFor('a first successful blackbox probe', () => blackboxProbes(poller).some((p) => p.ok === 1), { timeoutMs: 15_000, everyMs: 100 });

    const summary: string[] = [];
    for (const fault of FAULT_LIST) {
      const trials: Trial[] = [];
      for (let i = 0; i < TRIALS; i++) trials.push(await runTrial(vip, probe, poller, fault));
      const detected = trials.flatMap((t) => (t.detectMs === undefined ? [] : [t.detectMs])).sort((a, b) => a - b);
      const goal = GOALS[fault];
      // The fault took effect somewhere while the injecting command ran: counted from the
      // command's start (the figure printed) and from its return (the fault surely in place).
      const applied = trials.flatMap((t) => (t.detectMs === undefined ? [] : [t.detectMs - t.injectMs]));
      const withinGoal =
        goal === undefined
          ? ''
          : `, within goal ${goal.label} (${goal.ms} ms): ${detected.filter((ms) => ms <= goal.ms).length}/${TRIALS} from the command's start, ` +
            `${applied.filter((ms) => ms <= goal.ms).length}/${TRIALS} from its return`;
      const reasons = [...new Set(trials.map((t) => t.reason ?? 'none'))].join('/');
      console.log(
        `${fault}: t3-probe detected ${detected.length}/${TRIALS} (${reasons}), ms: ${trials.map((t) => t.detectMs ?? 'missed').join(' ')}; ` +
          `min ${detected[0] ?? NaN} median ${percentile(detected, 50)} max ${detected.at(-1) ?? NaN}${withinGoal}; ` +
          `the injecting command took ${percentile(trials.map((t) => t.injectMs).sort((a, b) => a - b), 50)} ms (median, included); ` +
          `ms from the command's return: ${trials.map((t) => (t.detectMs === undefined ? 'missed' : t.detectMs - t.injectMs)).join(' ')}`,
      );
      const bbSaw = trials.filter((t) => t.blackboxFailed > 0);
      const bbFirst = bbSaw.flatMap((t) => (t.blackboxFirstFailMs === undefined ? [] : [t.blackboxFirstFailMs])).sort((a, b) => a - b);
      console.log(
        `${fault}: blackbox_exporter saw it in ${bbSaw.length}/${TRIALS} trials (failed probes per trial: ${trials.map((t) => `${t.blackboxFailed}/${t.blackboxProbes}`).join(' ')}); ` +
          `first probe_success 0 after ms: ${trials.map((t) => t.blackboxFirstFailMs ?? 'never').join(' ')}`,
      );
      const ratio = bbFirst.length === 0 ? 'blackbox_exporter never saw it' : `median ratio t3-probe/blackbox ${(percentile(detected, 50) / percentile(bbFirst, 50)).toFixed(2)}`;
      summary.push(`${fault}: t3-probe median ${percentile(detected, 50)} ms, blackbox_exporter ${bbFirst.length === 0 ? 'missed' : `median ${percentile(bbFirst, 50)} ms`} (${ratio})`);
    }
    for (const s of summary) console.log(s);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
  console.log(loadLine());
}

await main();
