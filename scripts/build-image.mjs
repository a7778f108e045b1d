#!/usr/bin/env node
// Builds the real Dockerfile with podman, where no image registry is reachable: first a local
// stand-in for the Dockerfile's FROM (a Debian rootfs from mmdebstrap, plus the official Node
// binary and npm from the npm registry, laid out as the official node image has them, tagged
// with exactly the FROM name), then the Dockerfile itself with --pull=never.
//
//   node scripts/build-image.mjs [--tag t3-probe:dev]
//
// Progress goes to stderr; stdout gets one JSON line: the image, where its base came from, and
// the seconds each step took. Slow inputs are cached by version (scripts/cache.mjs): the rootfs
// tar, the Node binary and npm. A stand-in already imported from the same inputs is reused.
// An image of the FROM name that this script did not make (the real one) is used as it is.
//
// Needs root, podman, runc and mmdebstrap (scripts/ensure-system-packages.mjs installs them).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, URL } from 'node:url';
import { parseArgs } from 'node:util';
import { cacheDir, cached } from './cache.mjs';
import { BUNDLED_NPM, NODE_VERSIONS, nodeBinary, npmPackage } from './node-binaries.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** crun, podman's default runtime, refuses this kind of machine's cgroup layout; runc works. */
export const PODMAN_GLOBAL_ARGS = ['--runtime', 'runc'];
/** The default ulimits can't be set inside the VMs this runs in. */
export const PODMAN_RUN_LIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

const STAND_IN_LABEL = 't3-probe.stand-in';

/** Like Debian's official -slim images: no docs (but copyrights), man pages or locales. */
const SLIM_EXCLUDES = ['/usr/share/doc/*', '/usr/share/groff/*', '/usr/share/info/*', '/usr/share/linda/*', '/usr/share/lintian/overrides/*', '/usr/share/locale/*', '/usr/share/man/*'];
export const ROOTFS_OPTIONS = [
  '--variant=minbase',
  '--include=ca-certificates',
  '--aptopt=APT::Install-Recommends "false"',
  // Merged /usr set up directly, as Debian's images are, not by the usrmerge package (which
  // pulls in perl).
  '--hook-dir=/usr/share/mmdebstrap/hooks/maybe-merged-usr',
  // No fsync per file: a rootfs for a container, not a disk (Debian's images do the same).
  '--dpkgopt=force-unsafe-io',
  ...SLIM_EXCLUDES.map((p) => `--dpkgopt=path-exclude=${p}`),
  '--dpkgopt=path-include=/usr/share/doc/*/copyright',
  // apt as in Debian's images (/etc/apt/apt.conf.d/docker-clean, docker-no-languages): no
  // package caches or downloaded .debs left in a layer, no translations.
  `--customize-hook=printf '%s\\n' ${[
    'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
    'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
    'Dir::Cache::pkgcache "";',
    'Dir::Cache::srcpkgcache "";',
  ]
    .map((line) => `'${line}'`)
    .join(' ')} > "$1/etc/apt/apt.conf.d/docker-clean" && rm -f "$1"/var/cache/apt/*.bin`,
  `--customize-hook=echo 'Acquire::Languages "none";' > "$1/etc/apt/apt.conf.d/docker-no-languages"`,
];

const sha = (value) => createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);

/** Runs a command with its output on our stderr; rejects on a non-zero exit. */
async function sh(command, args, { capture = false, quiet = false } = {}) {
  const child = spawn(command, args, { stdio: ['ignore', capture ? 'pipe' : 2, quiet ? 'ignore' : 2] });
  let stdout = '';
  child.stdout?.setEncoding('utf8').on('data', (c) => (stdout += c));
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}`);
  return stdout;
}

export const podman = (args, options) => sh('podman', [...PODMAN_GLOBAL_ARGS, ...args], options);

/** The image's labels, or undefined when there is no image of that name. */
async function imageLabels(name) {
  try {
    return JSON.parse(await podman(['image', 'inspect', '--format', '{{json .Labels}}', name], { capture: true, quiet: true })) ?? {};
  } catch {
    return undefined;
  }
}

async function imageId(name) {
  try {
    return (await podman(['image', 'inspect', '--format', '{{.Id}}', name], { capture: true, quiet: true })).trim();
  } catch {
    return undefined;
  }
}

/** node:24-trixie-slim -> { name, major: "24", suite: "trixie" }, from the Dockerfile's ARG. */
export function baseImageOf(dockerfile) {
  const match = /^ARG NODE_IMAGE=(node:(\d+)-([a-z]+)-slim)$/m.exec(dockerfile);
  if (match === null) throw new Error('Dockerfile: no "ARG NODE_IMAGE=node:<major>-<suite>-slim" line');
  const [, name = '', major = '', suite = ''] = match;
  return { name, major, suite };
}

async function seconds(fn) {
  const start = performance.now();
  const result = await fn();
  return [result, Math.round((performance.now() - start) / 100) / 10];
}

/** Makes (or reuses) the stand-in for `base` and reports how. */
async function ensureStandIn(base, timings) {
  const node = NODE_VERSIONS[base.major];
  const npm = BUNDLED_NPM[base.major];
  if (node === undefined || npm === undefined) throw new Error(`no pinned Node ${base.major} in scripts/node-binaries.mjs (have ${Object.keys(NODE_VERSIONS).join(', ')})`);
  const rootfsKey = `debian-${base.suite}-slim-${sha(ROOTFS_OPTIONS)}`;
  const imported = `localhost/t3-probe-rootfs:${base.suite}-slim-${sha(ROOTFS_OPTIONS)}`;
  const containerfile = [
    `FROM ${imported}`,
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    `ENV NODE_VERSION=${node}`,
    'COPY usr/local /usr/local',
    'CMD ["node"]',
  ].join('\n');
  const inputs = sha({ format: 1, rootfsKey, node, npm, containerfile });

  const labels = await imageLabels(base.name);
  if (labels !== undefined && labels[STAND_IN_LABEL] === undefined) return 'existing';
  if (labels?.[STAND_IN_LABEL] === inputs) return 'reused';

  const [rootfs, rootfsSeconds] = await seconds(() =>
    cached(cacheDir('rootfs', `${rootfsKey}.tar`), (tmp) => sh('mmdebstrap', [...ROOTFS_OPTIONS, '--format=tar', base.suite, tmp])),
  );
  timings.rootfs = rootfsSeconds;
  timings.rootfsCached = rootfs.hit;
  if ((await imageId(imported)) === undefined) {
    [, timings.import] = await seconds(() => podman(['import', rootfs.path, imported], { capture: true }));
  }

  const [[nodeBin, npmDir], nodeSeconds] = await seconds(() => Promise.all([nodeBinary(node), npmPackage(npm)]));
  timings.nodeAndNpm = nodeSeconds;
  const context = await mkdtemp(path.join(os.tmpdir(), 't3-stand-in-'));
  try {
    // The official image's layout: /usr/local/bin/node, npm under /usr/local/lib/node_modules.
    await mkdir(path.join(context, 'usr/local/bin'), { recursive: true });
    await cp(nodeBin, path.join(context, 'usr/local/bin/node'));
    await cp(npmDir, path.join(context, 'usr/local/lib/node_modules/npm'), { recursive: true });
    await symlink('../lib/node_modules/npm/bin/npm-cli.js', path.join(context, 'usr/local/bin/npm'));
    await symlink('../lib/node_modules/npm/bin/npx-cli.js', path.join(context, 'usr/local/bin/npx'));
    await writeFile(path.join(context, 'Containerfile'), `${containerfile}\nLABEL ${STAND_IN_LABEL}=${inputs}\n`);
    [, timings.standIn] = await seconds(() => podman(['build', '--pull=never', '--network', 'none', '-t', base.name, '-f', path.join(context, 'Containerfile'), context]));
  } finally {
    await rm(context, { recursive: true, force: true });
  }
  return 'built';
}

/**
 * Where this machine reaches the npm registry through a TLS-intercepting proxy, Node trusts that
 * proxy's CA through NODE_EXTRA_CA_CERTS (or npm through its `cafile` setting). That bundle is
 * mounted over the base image's own bundle for the build's RUN steps only (a path that exists,
 * so no mount point is left in a layer), and the Dockerfile's build stages hand it to npm
 * (ARG NODE_EXTRA_CA_CERTS). The image keeps neither.
 */
async function buildCaArgs() {
  let bundle = process.env.NODE_EXTRA_CA_CERTS;
  if (!bundle) {
    const cafile = (await sh('npm', ['config', 'get', 'cafile'], { capture: true, quiet: true }).catch(() => '')).trim();
    if (path.isAbsolute(cafile) && existsSync(cafile)) bundle = cafile;
  }
  if (!bundle) return [];
  const inside = '/etc/ssl/certs/ca-certificates.crt';
  return ['--volume', `${bundle}:${inside}:ro`, '--build-arg', `NODE_EXTRA_CA_CERTS=${inside}`];
}

export async function buildImage(tag) {
  const timings = {};
  const start = performance.now();
  const base = baseImageOf(await readFile(path.join(ROOT, 'Dockerfile'), 'utf8'));
  const [baseSource, baseSeconds] = await seconds(() => ensureStandIn(base, timings));
  timings.base = baseSeconds;
  const previous = await imageId(tag);
  const caArgs = await buildCaArgs();
  [, timings.build] = await seconds(() =>
    podman(['build', '--pull=never', '--network', 'host', ...caArgs, '-t', tag, '-f', path.join(ROOT, 'Dockerfile'), ROOT]),
  );
  const id = await imageId(tag);
  // Drop the image this tag replaced, unless another tag still names it, so that repeated builds
  // of changed sources don't pile up. (A container still using it keeps it: rmi then fails.)
  if (previous !== undefined && previous !== id) {
    const tags = await podman(['image', 'inspect', '--format', '{{len .RepoTags}}', previous], { capture: true, quiet: true }).catch(() => '');
    if (tags.trim() === '0') await podman(['rmi', previous], { capture: true, quiet: true }).catch(() => undefined);
  }
  timings.total = Math.round((performance.now() - start) / 100) / 10;
  return { image: tag, id, base: base.name, baseSource, seconds: timings };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { tag: { type: 'string', default: 't3-probe:dev' } } });
  const result = await buildImage(values.tag);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
