/**
 * TLS cost, against blackbox_exporter: one TLS echo (`t3-probe echo --tls-cert/--tls-key`, a
 * certificate from src/demo/pki.ts, RSA-2048), probed two ways:
 *   - `t3-probe run` holding `--legs` wss legs with a heartbeat every `--interval` (one TLS
 *     handshake per connection, then heartbeats on it);
 *   - blackbox_exporter's http module probing `https://` on the same echo (a fresh connection and
 *     TLS handshake per probe), `--probes` probes at concurrency 10.
 * Prints each prober's process CPU (utime + stime from /proc/<pid>/stat) per successful probe,
 * and the ratio. Figures only: no pass or fail.
 *
 *   npm run bench:tls -- [--legs 100] [--interval 1s] [--seconds 20] [--probes 2000]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { createCertificateAuthority } from '../src/demo/pki.js';
import { CLI, randomPort, start, startBlackbox, startEcho, sumSamples, waitFor200 } from './cli-process.js';
import { cpuSeconds, loadLine, machineLine } from './proc-stats.js';

const { values } = parseArgs({
  options: {
    legs: { type: 'string', default: '100' },
    interval: { type: 'string', default: '1s' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    probes: { type: 'string', default: '2000' },
  },
});
const LEGS = Number(values.legs);
const SECONDS = Number(values.seconds);
const WARMUP_S = Number(values.warmup);
const PROBES = Number(values.probes);
const CONCURRENCY = 10;

async function t3probe(dir: string, echoPort: number, caFile: string): Promise<{ cpuPerProbeUs: number; probes: number }> {
  const listen = `127.0.0.1:${randomPort()}`;
  const config = path.join(dir, 'probe.yaml');
  await writeFile(
    config,
    stringify({
      listen,
      defaults: { interval: values.interval },
      legs: Array.from({ length: LEGS }, (_, i) => ({ name: `wss${i}`, kind: 'ws', url: `wss://127.0.0.1:${echoPort}/probe/ws`, tls: { ca: caFile } })),
    }),
  );
  const probe = start(process.execPath, [CLI, 'run', '--config', config, '--log-level', 'warn']);
  try {
    await waitFor200(`http://${listen}/readyz`, 'the probe ready', 30_000);
    await delay(WARMUP_S * 1000);
    const ok = async (): Promise<number> => sumSamples(await (await fetch(`http://${listen}/metrics`)).text(), 't3probe_heartbeats_total', 'result="ok"');
    const ok0 = await ok();
    const cpu0 = cpuSeconds(probe.pid);
    await delay(SECONDS * 1000);
    const cpu1 = cpuSeconds(probe.pid);
    // The closing scrape is billed after cpu1: only the probing is measured, not /metrics.
    const probes = (await ok()) - ok0;
    const drops = sumSamples(await (await fetch(`http://${listen}/metrics`)).text(), 't3probe_disconnects_total');
    if (drops > 0) console.error(`warning: ${drops} drops during the run`);
    return { cpuPerProbeUs: ((cpu1 - cpu0) * 1e6) / probes, probes };
  } finally {
    await probe.stop();
  }
}

async function blackbox(dir: string, echoPort: number, caFile: string): Promise<{ cpuPerProbeUs: number; probes: number; failed: number; version: string }> {
  const bb = await startBlackbox(dir, `modules:\n  https_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      tls_config:\n        ca_file: ${caFile}\n`);
  try {
    const target = encodeURIComponent(`https://127.0.0.1:${echoPort}/probe/healthz`);
    const url = `http://${bb.listen}/probe?module=https_2xx&target=${target}`;
    const version = /blackbox_exporter_build_info\{[^}]*version="([^"]+)"/.exec(await (await fetch(`http://${bb.listen}/metrics`)).text())?.[1] ?? 'unknown';
    for (let i = 0; i < 50; i++) await (await fetch(url)).text(); // warm-up
    let next = 0;
    let succeeded = 0;
    let failed = 0;
    const cpu0 = cpuSeconds(bb.pid);
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < PROBES) {
          next++;
          if (/^probe_success 1$/m.test(await (await fetch(url)).text())) succeeded++;
          else failed++;
        }
      }),
    );
    const cpu1 = cpuSeconds(bb.pid);
    return { cpuPerProbeUs: ((cpu1 - cpu0) * 1e6) / succeeded, probes: succeeded, failed, version };
  } finally {
    await bb.stop();
  }
}

const dir = await mkdtemp(path.join(os.tmpdir(), 't3-tls-cost-'));
try {
  const ca = createCertificateAuthority();
  const leaf = ca.issue(['127.0.0.1', 'localhost']);
  const caFile = path.join(dir, 'ca.pem');
  await writeFile(caFile, ca.certPem);
  await writeFile(path.join(dir, 'cert.pem'), leaf.certPem);
  await writeFile(path.join(dir, 'key.pem'), leaf.keyPem);
  const echo = await startEcho(['--tls-cert', path.join(dir, 'cert.pem'), '--tls-key', path.join(dir, 'key.pem'), '--max-connections', String(LEGS + 100), '--max-connections-per-ip', String(LEGS + 100)]);
  try {
    console.log(machineLine());
    console.log(`# tls-cost: ${LEGS} wss legs every ${values.interval} for ${SECONDS} s after ${WARMUP_S} s, vs blackbox_exporter https probes (${PROBES}, concurrency ${CONCURRENCY}); RSA-2048 leaf`);
    const t3 = await t3probe(dir, echo.port, caFile);
    console.log(`t3-probe wss legs: ${t3.cpuPerProbeUs.toFixed(0)} µs probe CPU per successful heartbeat (${t3.probes} heartbeats)`);
    const bb = await blackbox(dir, echo.port, caFile);
    console.log(`blackbox_exporter ${bb.version} https: ${bb.cpuPerProbeUs.toFixed(0)} µs exporter CPU per successful probe (${bb.probes} probes, ${bb.failed} failed)`);
    console.log(`ratio blackbox_exporter / t3-probe CPU per successful probe: ${(bb.cpuPerProbeUs / t3.cpuPerProbeUs).toFixed(1)}x`);
  } finally {
    await echo.stop();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
console.log(loadLine());
