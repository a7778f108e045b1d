#!/usr/bin/env node
// Installs the Debian packages the test suite drives for real (a real Prometheus, and so on)
// when they are missing and we run as root. Not root: say loudly what is missing; the tests
// that need it then skip with that reason, and on CI (CI=true) they fail instead.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** package -> a file it installs that proves it is there. */
export const SYSTEM_PACKAGES = {
  prometheus: '/usr/bin/prometheus',
  'prometheus-blackbox-exporter': '/usr/bin/prometheus-blackbox-exporter',
  // The network-namespace lab (test/lab): namespaces, veth, nftables NAT, conntrack.
  iproute2: '/usr/sbin/ip',
  nftables: '/usr/sbin/nft',
  conntrack: '/usr/sbin/conntrack',
  // The segment lab (test/lab/segment-lab.ts): a real DoH server and real proxies for the
  // CDN edge and the internal load balancer.
  unbound: '/usr/sbin/unbound',
  haproxy: '/usr/sbin/haproxy',
  // The status page test (test/status-page.test.ts) drives a real headless browser.
  chromium: '/usr/bin/chromium',
  // test/deploy/k8s.test.ts renders the kustomizations (k8s/) with kubectl kustomize.
  'kubernetes-client': '/usr/bin/kubectl',
  // test/deploy/image.test.ts builds and runs the image (scripts/build-image.mjs): podman with
  // runc (its default crun refuses this kind of machine's cgroups), and mmdebstrap for the
  // Debian rootfs of the local stand-in for the Dockerfile's FROM image.
  podman: '/usr/bin/podman',
  runc: '/usr/sbin/runc',
  mmdebstrap: '/usr/bin/mmdebstrap',
};

const missing = Object.entries(SYSTEM_PACKAGES)
  .filter(([, file]) => !existsSync(file))
  .map(([pkg]) => pkg);

if (missing.length === 0) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!isRoot) {
  process.stderr.write(
    `\n!!! Missing Debian packages: ${missing.join(' ')}\n` +
      `!!! Not root, so not installing them. Tests that need them will be SKIPPED (and FAIL when CI=true).\n` +
      `!!! Install with: sudo apt-get install -y --no-install-recommends ${missing.join(' ')}\n\n`,
  );
  process.exit(0);
}

process.stderr.write(`Installing Debian packages for the test suite: ${missing.join(' ')}\n`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const run = (args) => execFileSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env });
try {
  run(['install', '-y', '-qq', '--no-install-recommends', ...missing]);
} catch {
  // A fresh machine has stale or no package lists: refresh once and retry.
  run(['update', '-qq']);
  run(['install', '-y', '-qq', '--no-install-recommends', ...missing]);
}
const still = Object.entries(SYSTEM_PACKAGES).filter(([, file]) => !existsSync(file)).map(([pkg]) => pkg);
if (still.length > 0) {
  process.stderr.write(`apt-get finished but these are still missing: ${still.join(' ')}\n`);
  process.exit(1);
}
