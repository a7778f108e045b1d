#!/usr/bin/env node
// Runs the unit tests (test/*.test.ts) again on each Node line in NODE_VERSIONS (24 and 22), next
// to the machine's own Node that `npm run test:unit` used. The binaries are the official builds
// from the npm registry, cached by version (scripts/node-binaries.mjs). The lab and deploy tests
// stay on the machine's Node: they drive system tools, not Node APIs, and take most of the time.
//
//   node scripts/test-node-versions.mjs          # every pinned version
//   node scripts/test-node-versions.mjs 22       # just one
import { spawn } from 'node:child_process';
import { Buffer } from 'node:buffer';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, URL } from 'node:url';
import { NODE_VERSIONS, nodeBinary } from './node-binaries.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/**
 * Unit test files that drive a browser or a real Prometheus end to end: like the lab and deploy
 * tests they test those tools against the probe, not Node APIs, and they run on the machine's
 * Node only (on three Node lines they were a large share of the suite's time).
 */
const TOOL_DRIVEN = new Set(['status-page.test.ts', 'prometheus-runbook.test.ts']);
const files = readdirSync(path.join(ROOT, 'test'))
  .filter((f) => f.endsWith('.test.ts') && !TOOL_DRIVEN.has(f))
  .sort()
  .map((f) => path.join('test', f));

const wanted = process.argv.slice(2);
const majors = Object.keys(NODE_VERSIONS)
  .sort((a, b) => Number(b) - Number(a))
  .filter((major) => wanted.length === 0 || wanted.includes(major));
if (majors.length === 0) {
  process.stderr.write(`usage: node scripts/test-node-versions.mjs [${Object.keys(NODE_VERSIONS).join('|')}]...\n`);
  process.exit(2);
}

// The versions run side by side: the unit tests mostly wait on timers and sockets, so two runs
// on two cores take little longer than one. Each run's report is printed whole when it ends.
// Node 20 reports TAP when stdout is not a terminal, Node 22+ spec: ask for the same on each.
const reporter = process.stdout.isTTY ? [] : ['--test-reporter=tap'];
const runs = majors.map(async (major) => {
  const version = NODE_VERSIONS[major];
  const node = await nodeBinary(version);
  const start = performance.now();
  // First on PATH too, so anything a test starts by name (npm, node) runs on the same Node.
  const env = { ...process.env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH ?? ''}` };
  const child = spawn(node, ['--import', 'tsx', '--test', '--test-concurrency=1', ...reporter, ...files], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks = [];
  child.stdout.on('data', (c) => chunks.push(c));
  child.stderr.on('data', (c) => chunks.push(c));
  const [code] = await once(child, 'exit');
  return { version, node, code, seconds: Math.round((performance.now() - start) / 1000), output: Buffer.concat(chunks) };
});

const results = [];
for (const run of runs) {
  const result = await run;
  process.stdout.write(`\n# Node ${result.version} (${result.node}): ${files.length} test files\n`);
  process.stdout.write(result.output);
  results.push(result);
}

process.stdout.write('\n');
for (const { version, code, seconds } of results) {
  process.stdout.write(`# Node ${version}: ${code === 0 ? 'pass' : `FAIL (exit ${code})`} in ${seconds} s\n`);
}
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
