/**
 * The Swarm-VIP stand-in from ../shared/FACTS.md, built in namespaces:
 *
 *   client 10.77.0.2 ── 10.77.0.1 router 10.77.1.1 ── 10.77.1.2 server (t3-probe echo)
 *
 * The router DNATs the "VIP" 10.77.9.9 to the server, with nf_conntrack_tcp_loose=0 and a short
 * nf_conntrack_tcp_timeout_established standing in for IPVS's 900 s: once the entry is gone, the
 * next packet of the connection is INVALID, is not re-NATed, and is dropped (or answered with a
 * reset), exactly what IPVS does with a connection it has forgotten. Dialling 10.77.1.2 directly
 * is the dnsrr path: it crosses the same router but no VIP rule.
 */
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { waitFor } from '../helpers/wait.js';
import { Lab, type LabProcess } from './netns.js';

export const VIP = '10.77.9.9';
export const SERVER_IP = '10.77.1.2';
export const WS_PORT = 8080;
export const TCP_PORT = 9000;
export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export type InvalidAction = 'drop' | 'reset';

export interface VipLab {
  readonly lab: Lab;
  readonly client: string;
  readonly router: string;
  readonly server: string;
  /** The echo server running now (a new process after restartEcho). */
  readonly echo: LabProcess;
  /** Kill the echo (SIGKILL, as a crashed or redeployed task) and start a new one. */
  restartEcho(): Promise<void>;
  /** Bytes received by each established client socket to `address` (per socket, in ss order). */
  clientSockets(address: string): Promise<number[]>;
  /** Switch what the router does with packets of forgotten VIP connections. */
  setInvalidAction(action: InvalidAction): Promise<void>;
  /** Run the t3-probe CLI in the client namespace. */
  cli(args: readonly string[]): LabProcess;
  /** Packets of forgotten VIP connections the router has dropped or rejected so far. */
  forgottenPackets(): Promise<number>;
}

function forwardChain(action: InvalidAction): string {
  const verdict = action === 'drop' ? 'drop' : 'reject with tcp reset';
  return `chain forward { type filter hook forward priority filter; ip daddr ${VIP} ct state invalid counter ${verdict}; }`;
}

export async function createVipLab(t: TestContext, options: { conntrackTimeoutS: number; invalid?: InvalidAction }): Promise<VipLab> {
  const lab = Lab.create(t);
  const client = await lab.namespace('c');
  const router = await lab.namespace('r');
  const server = await lab.namespace('s');
  await lab.link({ ns: client, address: '10.77.0.2/24' }, { ns: router, address: '10.77.0.1/24' });
  await lab.link({ ns: router, address: '10.77.1.1/24' }, { ns: server, address: `${SERVER_IP}/24` });
  await lab.ip(client, 'route', 'add', 'default', 'via', '10.77.0.1');
  await lab.ip(server, 'route', 'add', 'default', 'via', '10.77.1.1');
  await lab.sysctl(router, 'net.ipv4.ip_forward=1');
  // Packets of a forgotten connection are not re-NATed and still carry the VIP as destination;
  // this route lets them reach the forward chain, where the lab decides their fate (as IPVS
  // would), instead of dying early as unroutable.
  await lab.ip(router, 'route', 'add', `${VIP}/32`, 'via', SERVER_IP);
  const table = (action: InvalidAction): string => `table ip t3lab {
  chain prerouting { type nat hook prerouting priority dstnat; ip daddr ${VIP} tcp dport { ${WS_PORT}, ${TCP_PORT} } dnat to ${SERVER_IP}; }
  ${forwardChain(action)}
}`;
  await lab.nft(router, table(options.invalid ?? 'drop'));
  // conntrack sysctls exist per namespace once conntrack is in use there (the NAT rule does that).
  await lab.sysctl(
    router,
    'net.netfilter.nf_conntrack_tcp_loose=0',
    `net.netfilter.nf_conntrack_tcp_timeout_established=${options.conntrackTimeoutS}`,
  );

  const startEcho = async (): Promise<LabProcess> => {
    const started = lab.spawn(server, process.execPath, [CLI, 'echo', '--listen', `0.0.0.0:${WS_PORT}`, '--tcp-listen', `0.0.0.0:${TCP_PORT}`]);
    await waitFor('the echo server in the server namespace', () => started.stdout.includes('echo server listening'), { timeoutMs: 10_000 });
    return started;
  };
  let echo = await startEcho();
  return {
    lab,
    client,
    router,
    server,
    get echo() {
      return echo;
    },
    async restartEcho() {
      echo.kill('SIGKILL');
      await echo.exited;
      echo = await startEcho();
    },
    async clientSockets(address) {
      const { stdout } = await lab.exec(client, 'ss', '-Htni', 'state', 'established', 'dst', address);
      // One line per socket, then its tab-indented TCP info (bytes_received is left out while 0).
      return stdout
        .split('\n')
        .filter((line) => line.startsWith('\t') || line.startsWith(' '))
        .map((info) => Number(/bytes_received:(\d+)/.exec(info)?.[1] ?? 0));
    },
    async setInvalidAction(action) {
      await lab.nft(router, `flush chain ip t3lab forward\ndelete chain ip t3lab forward\ntable ip t3lab {\n  ${forwardChain(action)}\n}`);
    },
    cli: (args) => lab.spawn(client, process.execPath, [CLI, ...args]),
    async forgottenPackets() {
      const { stdout } = await lab.exec(router, 'nft', 'list', 'chain', 'ip', 't3lab', 'forward');
      return Number(/counter packets (\d+)/.exec(stdout)?.[1] ?? 0);
    },
  };
}
