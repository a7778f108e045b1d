/**
 * The production path of ../shared/README.md, built from network namespaces and real Debian
 * software, with a fault switch per segment:
 *
 *   client 10.88.0.10  the probe (started by the caller)
 *   doh    10.88.0.20  unbound: DoH (HTTP/2 only) on 443, plain DNS on 53
 *   edge   10.88.0.30  haproxy, the CDN edge + tunnel: TLS on 443 -> lb:80
 *   lb     10.88.0.40  haproxy, Traefik: TLS on 443 (the internal leg) and plain 80 -> host:8080
 *   host   10.88.0.50  dispatch: t3-probe echo on 8080 (/probe/ws)
 *                      serve: t3-probe echo on 8081 (/probe/healthz)
 *
 * All hosts sit on one /24 behind a bridge in a "switch" namespace. Every host namespace has the
 * conntrack "hop" ruleset from ../shared/FACTS.md (nf_conntrack_tcp_loose=0 plus `ct state
 * invalid drop` on input), so `conntrack -F` there breaks the connections that end at or pass
 * through that host, while new connections still work.
 *
 * Faults (inject() → heal()):
 * - blackhole / reset: drop / `reject with tcp reset` TCP arriving from the network (not lo) for
 *   the segment's service ports, from an nft table of its own in the segment's namespace; heal
 *   deletes that table and nothing else.
 * - kill: SIGKILL the segment's process; heal starts it again with the same command and config and
 *   waits until its service ports accept connections (checked inside its own namespace).
 * - stall: SIGSTOP; heal: SIGCONT. The kernel still completes TCP handshakes (the listen backlog),
 *   but nothing is read or answered.
 * - conntrack-flush: `conntrack -F` in the segment's namespace, instantaneous; heal is a no-op.
 *   dispatch and serve share the `host` namespace, so flushing either breaks the connections of
 *   both (and the lb's connections to dispatch).
 *
 * One certificate, signed by the lab's CA, carries both names (t3.example.test for edge and lb,
 * doh.example.test for unbound). `ip netns exec` execs in place, so a LabProcess's PID is the
 * server's own and signals reach it directly.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { stringify } from 'yaml';
import type { IssuedCertificate } from '../../src/demo/pki.js';
import { waitFor } from '../helpers/wait.js';
import { Lab, type LabProcess } from './netns.js';

export const SEGMENT_IPS = { client: '10.88.0.10', doh: '10.88.0.20', edge: '10.88.0.30', lb: '10.88.0.40', host: '10.88.0.50' } as const;
export const PUBLIC_HOSTNAME = 't3.example.test';
export const DOH_HOSTNAME = 'doh.example.test';

export type Segment = 'edge' | 'lb' | 'dispatch' | 'serve' | 'doh';
export type Fault = 'blackhole' | 'reset' | 'kill' | 'stall' | 'conntrack-flush';

export const SEGMENTS: readonly Segment[] = ['edge', 'lb', 'dispatch', 'serve', 'doh'];
export const FAULTS: readonly Fault[] = ['blackhole', 'reset', 'kill', 'stall', 'conntrack-flush'];

/** TCP ports the segment's process serves; blackhole and reset act on exactly these. */
export const SEGMENT_PORTS: Readonly<Record<Segment, readonly number[]>> = {
  edge: [443],
  lb: [443, 80],
  dispatch: [8080],
  serve: [8081],
  doh: [443],
};

export interface ProbeConfigOptions {
  readonly interval: string;
  readonly deadline: string;
  readonly backoffMin: string;
  readonly backoffMax: string;
  readonly dnsRecheck: string;
  /** The probe's own HTTP listener, for example "127.0.0.1:9464". */
  readonly listen: string;
}

export interface SegmentLab {
  readonly lab: Lab;
  readonly ns: { client: string; doh: string; edge: string; lb: string; host: string; switch: string };
  /** CA the probe must trust (tls.ca), for both wss legs and DoH. */
  readonly caPem: string;
  /** The same CA written to a file (for a YAML config's tls.ca). */
  readonly caFile: string;
  /** https://doh.example.test/dns-query (port 443; bootstrap 10.88.0.20). */
  readonly dohUrl: string;
  /** wss://t3.example.test/probe/ws */
  readonly publicUrl: string;
  /** http://10.88.0.50:8081/probe/healthz */
  readonly serveUrl: string;
  /**
   * Write a probe YAML config (cloudflare: ws + DoH with bootstrap, internal: ws pinned to the lb
   * IP, t3serve: http) with these leg settings into the lab's temp dir; returns its path.
   */
  writeProbeConfig(options: ProbeConfigOptions): Promise<string>;
  /**
   * Inject a fault on a segment; returns a function that heals it (idempotent; for kill it waits
   * until the process is back and accepting connections). Throws when the same fault is already
   * active on the segment, or for kill/stall while the other one is active on it.
   */
  inject(segment: Segment, fault: Fault): Promise<() => Promise<void>>;
  /** Run a command in the client namespace (e.g. the CLI). */
  spawnInClient(command: string, args: readonly string[]): LabProcess;
}

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const SUBNET_BITS = 24;
const START_TIMEOUT_MS = 15_000;

type HostRole = keyof typeof SEGMENT_IPS;

interface Service {
  readonly segment: Segment;
  readonly ns: string;
  readonly ip: string;
  readonly command: string;
  readonly args: readonly string[];
  proc: LabProcess;
}

function haproxyConfig(frontend: string, binds: readonly string[], backend: string): string {
  // Foreground (-db), no chroot/user/daemon, no stats, no logging. WebSocket upgrades pass through
  // HTTP mode on their own; `timeout tunnel` then governs the upgraded connection.
  return `global
  nbthread 1
  maxconn 2048

defaults
  mode http
  # A refused or timed-out upstream answers 503 at once, as Traefik's 502 would, instead of after
  # haproxy's default 3 retries one second apart.
  retries 0
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout tunnel 1h
  timeout http-request 10s

frontend ${frontend}
${binds.map((bind) => `  bind ${bind}`).join('\n')}
  default_backend upstream

backend upstream
  server upstream ${backend}
`;
}

function unboundConfig(dir: string): string {
  // Non-root settings from ../shared/FACTS.md. unbound's DoH is HTTP/2 only.
  return `server:
  verbosity: 1
  username: ""
  chroot: ""
  directory: "${dir}"
  pidfile: "${path.join(dir, 'unbound.pid')}"
  do-daemonize: no
  use-syslog: no
  logfile: ""
  num-threads: 1
  do-ip6: no
  module-config: "iterator"
  interface: ${SEGMENT_IPS.doh}@443
  interface: ${SEGMENT_IPS.doh}@53
  https-port: 443
  http-endpoint: "/dns-query"
  tls-service-key: "${path.join(dir, 'leaf.key')}"
  tls-service-pem: "${path.join(dir, 'leaf.crt')}"
  access-control: ${SEGMENT_IPS.client.replace(/\.\d+$/, '.0')}/${SUBNET_BITS} allow
  local-zone: "example.test." static
  local-data: "${PUBLIC_HOSTNAME}. 60 IN A ${SEGMENT_IPS.edge}"
  local-data: "${DOH_HOSTNAME}. 60 IN A ${SEGMENT_IPS.doh}"

remote-control:
  control-enable: no
`;
}

/**
 * A node script for the client namespace: poll TCP connects to every target until all accept, or
 * fail after the deadline naming the ones that never did.
 */
function acceptingScript(targets: readonly { host: string; port: number }[], timeoutMs: number): string {
  return `const net = require('node:net');
const deadline = Date.now() + ${timeoutMs};
const attempt = (t) => new Promise((resolve) => {
  const s = net.connect(t);
  const done = (ok) => { s.destroy(); resolve(ok); };
  s.setTimeout(500, () => done(false));
  s.once('connect', () => done(true));
  s.once('error', () => done(false));
});
(async () => {
  let left = ${JSON.stringify(targets)};
  for (;;) {
    const ok = await Promise.all(left.map(attempt));
    left = left.filter((_, i) => !ok[i]);
    if (left.length === 0) process.exit(0);
    if (Date.now() > deadline) { process.stderr.write(JSON.stringify(left)); process.exit(1); }
    await new Promise((r) => setTimeout(r, 25));
  }
})();`;
}

async function processState(pid: number | undefined): Promise<string | undefined> {
  if (pid === undefined) return undefined;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The state follows the parenthesised command name, which may itself contain spaces.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}

const PKI = new URL('../../dist/demo/pki.js', import.meta.url).href;
let certificates: Promise<{ caPem: string; leaf: IssuedCertificate }> | undefined;

/**
 * One CA and one leaf for both names, shared by every lab of this process. Signing them with
 * src/demo/pki.ts (built, like the CLI) takes about a second of CPU, so it runs in a worker thread
 * while the namespaces are plumbed and the node processes start.
 */
function labCertificates(): Promise<{ caPem: string; leaf: IssuedCertificate }> {
  certificates ??= new Promise<{ caPem: string; leaf: IssuedCertificate }>((resolve, reject) => {
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
import(${JSON.stringify(PKI)}).then(({ createCertificateAuthority }) => {
  const ca = createCertificateAuthority('t3-probe segment lab CA');
  parentPort.postMessage({ caPem: ca.certPem, leaf: ca.issue(${JSON.stringify([PUBLIC_HOSTNAME, DOH_HOSTNAME])}) });
});`,
      { eval: true },
    );
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`certificate worker exited (${code}) without certificates; is dist/ built?`)));
  }).catch((err: unknown) => {
    certificates = undefined;
    throw err;
  });
  return certificates;
}

export async function createSegmentLab(t: TestContext): Promise<SegmentLab> {
  const lab = Lab.create(t);
  const signed = labCertificates();
  const dir = lab.tempDir();

  const [client, doh, edge, lb, host, sw] = await Promise.all([
    lab.namespace('client'),
    lab.namespace('doh'),
    lab.namespace('edge'),
    lab.namespace('lb'),
    lab.namespace('host'),
    lab.namespace('sw'),
  ]);
  const ns = { client, doh, edge, lb, host, switch: sw };
  const bridge = { ns: sw, dev: await lab.bridge(sw) };
  const hosts: readonly HostRole[] = ['client', 'doh', 'edge', 'lb', 'host'];
  await Promise.all(
    hosts.map(async (role) => {
      await lab.plug(bridge, { ns: ns[role], address: `${SEGMENT_IPS[role]}/${SUBNET_BITS}` });
      // The hop ruleset first: the conntrack sysctls of a namespace exist once conntrack is in use there.
      await lab.nft(ns[role], 'table inet hop {\n  chain input { type filter hook input priority filter; ct state invalid drop; }\n}');
      await lab.sysctl(ns[role], 'net.netfilter.nf_conntrack_tcp_loose=0');
    }),
  );

  const services = new Map<Segment, Service>();
  const start = (spec: Omit<Service, 'proc'>): void => {
    services.set(spec.segment, { ...spec, proc: lab.spawn(spec.ns, spec.command, spec.args) });
  };
  // The node processes first: they take the longest to start, and need no certificates.
  start({ segment: 'dispatch', ns: host, ip: SEGMENT_IPS.host, command: process.execPath, args: [CLI, 'echo', '--listen', '0.0.0.0:8080'] });
  start({ segment: 'serve', ns: host, ip: SEGMENT_IPS.host, command: process.execPath, args: [CLI, 'echo', '--listen', '0.0.0.0:8081'] });

  // haproxy wants certificate and key in one PEM file, unbound two files.
  const { caPem, leaf } = await signed;
  const caFile = path.join(dir, 'ca.pem');
  const leafPem = path.join(dir, 'leaf.pem');
  await Promise.all([
    writeFile(caFile, caPem),
    writeFile(leafPem, leaf.certPem + leaf.keyPem),
    writeFile(path.join(dir, 'leaf.crt'), leaf.certPem),
    writeFile(path.join(dir, 'leaf.key'), leaf.keyPem),
    writeFile(
      path.join(dir, 'edge.cfg'),
      haproxyConfig('edge', [`${SEGMENT_IPS.edge}:443 ssl crt ${leafPem} alpn http/1.1`], `${SEGMENT_IPS.lb}:80`),
    ),
    writeFile(
      path.join(dir, 'lb.cfg'),
      haproxyConfig('lb', [`${SEGMENT_IPS.lb}:443 ssl crt ${leafPem} alpn http/1.1`, `${SEGMENT_IPS.lb}:80`], `${SEGMENT_IPS.host}:8080`),
    ),
    writeFile(path.join(dir, 'unbound.conf'), unboundConfig(dir)),
  ]);
  start({ segment: 'doh', ns: doh, ip: SEGMENT_IPS.doh, command: '/usr/sbin/unbound', args: ['-d', '-c', path.join(dir, 'unbound.conf')] });
  start({ segment: 'edge', ns: edge, ip: SEGMENT_IPS.edge, command: '/usr/sbin/haproxy', args: ['-db', '-f', path.join(dir, 'edge.cfg')] });
  start({ segment: 'lb', ns: lb, ip: SEGMENT_IPS.lb, command: '/usr/sbin/haproxy', args: ['-db', '-f', path.join(dir, 'lb.cfg')] });
  const service = (segment: Segment): Service => {
    const found = services.get(segment);
    if (found === undefined) throw new TypeError(`unknown segment ${JSON.stringify(segment)} (expected one of ${SEGMENTS.join(', ')})`);
    return found;
  };

  /** Wait until every port of these services accepts TCP connections made from namespace `from`. */
  const accepting = async (list: readonly Service[], from: string): Promise<void> => {
    const targets = list.flatMap((s) => SEGMENT_PORTS[s.segment].map((port) => ({ host: s.ip, port })));
    const check = lab.spawn(from, process.execPath, ['-e', acceptingScript(targets, START_TIMEOUT_MS)]);
    const died = list.map(async (s) => {
      const proc = s.proc;
      const code = await proc.exited;
      return `${s.segment} (${s.command}) exited with ${code} before accepting connections:\n${proc.stderr}${proc.stdout}`;
    });
    const result = await Promise.race([check.exited.then((code) => (code === 0 ? undefined : `never accepted: ${check.stderr}`)), ...died]);
    if (result !== undefined) {
      check.kill('SIGKILL');
      throw new Error(`segment lab: ${result}`);
    }
  };
  // From the client: this proves the whole network path, not only the processes.
  await accepting([...services.values()], client);

  const active = new Set<string>();
  let configs = 0;

  return {
    lab,
    ns,
    caPem,
    caFile,
    dohUrl: `https://${DOH_HOSTNAME}/dns-query`,
    publicUrl: `wss://${PUBLIC_HOSTNAME}/probe/ws`,
    serveUrl: `http://${SEGMENT_IPS.host}:8081/probe/healthz`,

    async writeProbeConfig(options) {
      const tls = { ca: caFile };
      const config = {
        listen: options.listen,
        defaults: {
          interval: options.interval,
          deadline: options.deadline,
          backoff: { min: options.backoffMin, max: options.backoffMax },
        },
        doh: { url: `https://${DOH_HOSTNAME}/dns-query`, bootstrap: SEGMENT_IPS.doh, tls },
        legs: [
          { name: 'cloudflare', kind: 'ws', url: `wss://${PUBLIC_HOSTNAME}/probe/ws`, resolve: 'doh', dnsRecheck: options.dnsRecheck, tls },
          { name: 'internal', kind: 'ws', url: `wss://${PUBLIC_HOSTNAME}/probe/ws`, pin: SEGMENT_IPS.lb, tls },
          { name: 't3serve', kind: 'http', url: `http://${SEGMENT_IPS.host}:8081/probe/healthz` },
        ],
      };
      configs += 1;
      const file = path.join(dir, `probe-${configs}.yaml`);
      await writeFile(file, stringify(config, { aliasDuplicateObjects: false }));
      return file;
    },

    async inject(segment, fault) {
      const target = service(segment);
      if (!FAULTS.includes(fault)) throw new TypeError(`unknown fault ${JSON.stringify(fault)} (expected one of ${FAULTS.join(', ')})`);
      if (fault === 'conntrack-flush') {
        await lab.exec(target.ns, 'conntrack', '-F');
        return () => Promise.resolve();
      }
      const key = `${segment}:${fault}`;
      if (active.has(key)) throw new Error(`${fault} is already active on ${segment}; heal it first`);
      const other = fault === 'kill' ? 'stall' : fault === 'stall' ? 'kill' : undefined;
      if (other !== undefined && active.has(`${segment}:${other}`)) {
        throw new Error(`cannot ${fault} ${segment} while it is ${other === 'kill' ? 'killed' : 'stalled'}; heal that first`);
      }
      active.add(key);
      // Heal once, however often it is called; after teardown there is nothing left to heal (a
      // caller's t.after(heal) may well run after the lab's own).
      const once = (heal: () => Promise<void>): (() => Promise<void>) => {
        let healing: Promise<void> | undefined;
        return () => {
          if (lab.destroyed) return Promise.resolve();
          healing ??= heal().finally(() => active.delete(key));
          return healing;
        };
      };

      try {
        switch (fault) {
          case 'blackhole':
          case 'reset': {
            // A table of its own per fault: heal deletes exactly it. Priority before the hop chain;
            // loopback is spared, so the lab itself can still see whether the process accepts.
            const table = `t3fault_${segment}_${fault}`;
            const verdict = fault === 'blackhole' ? 'drop' : 'reject with tcp reset';
            await lab.nft(
              target.ns,
              `table inet ${table} {\n  chain input { type filter hook input priority filter - 10; iifname != "lo" tcp dport { ${SEGMENT_PORTS[segment].join(', ')} } counter ${verdict}; }\n}`,
            );
            return once(() => lab.nft(target.ns, `delete table inet ${table}`));
          }
          case 'kill': {
            const proc = target.proc;
            proc.kill('SIGKILL');
            await proc.exited;
            return once(async () => {
              target.proc = lab.spawn(target.ns, target.command, target.args);
              // From the segment's own namespace (over lo, which blackhole and reset spare), so a
              // network fault still active on the segment does not hide that the process is back.
              await accepting([target], target.ns);
            });
          }
          case 'stall': {
            const proc = target.proc;
            proc.kill('SIGSTOP');
            await waitFor(`${segment} to be stopped`, async () => (await processState(proc.child.pid)) === 'T', { timeoutMs: 2_000 });
            return once(async () => {
              proc.kill('SIGCONT');
              await waitFor(`${segment} to run again`, async () => (await processState(proc.child.pid)) !== 'T', { timeoutMs: 2_000 });
            });
          }
        }
      } catch (err) {
        active.delete(key);
        throw err;
      }
    },

    spawnInClient: (command, args) => lab.spawn(client, command, args),
  };
}
