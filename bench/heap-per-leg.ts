/**
 * What a leg's heap is made of (issue 12 §3): N ws legs come up against an echo in a child
 * process, and a heap snapshot taken before the probe exists is diffed against one taken with
 * every leg up and a few heartbeats done. Only objects that are new in the second snapshot count
 * (snapshot ids are stable within a process); they are grouped by V8 node type and constructor
 * or string kind, and printed as bytes per leg, largest first. The same for bare `ws` clients
 * doing the same echo, the floor.
 *
 *   npm run bench:heap -- [--legs 2000] [--top 25] [--bare]
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import WebSocket from 'ws';
import { wsLegsConfig } from './ws-legs-config.js';
import { Probe } from '../src/probe.js';

const { values } = parseArgs({
  options: {
    legs: { type: 'string', default: '2000' },
    top: { type: 'string', default: '25' },
    bare: { type: 'boolean', default: false },
    detail: { type: 'string', default: 'default' },
  },
});
const LEGS = Number(values.legs);
const TOP = Number(values.top);

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('run with node --expose-gc');
  collect();
  collect();
}

interface HeapSnapshot {
  readonly snapshot: { readonly meta: { readonly node_fields: string[]; readonly node_types: [string[], ...unknown[]]; readonly edge_fields: string[]; readonly edge_types: [string[], ...unknown[]] } };
  readonly nodes: number[];
  readonly edges: number[];
  readonly strings: string[];
}

interface Group {
  bytes: number;
  count: number;
  /** What holds these objects: retainer and edge name, with the bytes held that way. */
  readonly retainers: Map<string, number>;
}

/** A snapshot written to disk, not yet parsed: parsing it later keeps its id set out of the next one. */
function writeSnapshot(): string {
  gc();
  return v8.writeHeapSnapshot(path.join(os.tmpdir(), `t3-heap-${process.pid}-${Date.now()}.heapsnapshot`));
}

async function readSnapshot(file: string): Promise<HeapSnapshot> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as HeapSnapshot;
  } finally {
    await rm(file, { force: true });
  }
}

/** Objects new since `beforeFile`, by kind: both snapshots are parsed only after both are taken. */
async function diffSince(beforeFile: string): Promise<Map<string, Group>> {
  const afterFile = writeSnapshot();
  const before = idsOf(await readSnapshot(beforeFile));
  return newObjects(before, await readSnapshot(afterFile));
}

/** Node ids of a snapshot. */
function idsOf(snap: HeapSnapshot): Set<number> {
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const idAt = fields.indexOf('id');
  const ids = new Set<number>();
  for (let i = 0; i < snap.nodes.length; i += width) ids.add(snap.nodes[i + idAt] ?? -1);
  return ids;
}

/** Self size of the objects in `after` that were not in `before`, by type and name, with their retainers. */
function newObjects(before: Set<number>, after: HeapSnapshot): Map<string, Group> {
  const { node_fields: fields, node_types: nodeTypes, edge_fields: edgeFields, edge_types: edgeTypes } = after.snapshot.meta;
  const width = fields.length;
  const edgeWidth = edgeFields.length;
  const [typeAt, nameAt, idAt, sizeAt, edgeCountAt] = ['type', 'name', 'id', 'self_size', 'edge_count'].map((f) => fields.indexOf(f)) as [number, number, number, number, number];
  const [edgeTypeAt, edgeNameAt, toAt] = ['type', 'name_or_index', 'to_node'].map((f) => edgeFields.indexOf(f)) as [number, number, number];
  const types = nodeTypes[0];
  const etypes = edgeTypes[0];
  const keyAt = (i: number): string => {
    const type = types[after.nodes[i + typeAt] ?? 0] ?? '?';
    const rawName = after.strings[after.nodes[i + nameAt] ?? 0] ?? '';
    // Strings and code are grouped by kind, not by their (per-leg) text.
    const name = type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number' ? '' : type === 'code' ? rawName.replace(/\s.*$/, '') : rawName.slice(0, 60);
    return `${type}${name === '' ? '' : ` ${name}`}`;
  };
  // The first strong retainer of each node: a map from node offset to (retainer offset, edge name).
  const retainer = new Map<number, string>();
  const parentOf = new Map<number, number>();
  for (let i = 0, e = 0; i < after.nodes.length; i += width) {
    const count = after.nodes[i + edgeCountAt] ?? 0;
    for (let k = 0; k < count; k++, e += edgeWidth) {
      const etype = etypes[after.edges[e + edgeTypeAt] ?? 0] ?? '';
      if (etype === 'weak' || etype === 'shortcut') continue;
      const to = after.edges[e + toAt] ?? 0;
      if (retainer.has(to)) continue;
      const raw = after.edges[e + edgeNameAt] ?? 0;
      const edgeName = etype === 'element' || etype === 'hidden' ? `[${etype}]` : (after.strings[raw] ?? '');
      retainer.set(to, `${keyAt(i)} .${edgeName}`);
      parentOf.set(to, i);
    }
  }
  const groups = new Map<string, Group>();
  for (let i = 0; i < after.nodes.length; i += width) {
    if (before.has(after.nodes[i + idAt] ?? -1)) continue;
    const key = keyAt(i);
    const group = groups.get(key) ?? { bytes: 0, count: 0, retainers: new Map<string, number>() };
    const size = after.nodes[i + sizeAt] ?? 0;
    group.bytes += size;
    group.count++;
    // Two levels up: what holds the holder says more than the holder alone (a Set's table).
    const parent = parentOf.get(i);
    const grand = parent === undefined ? undefined : retainer.get(parent);
    const by = `${retainer.get(i) ?? '(none)'}${grand === undefined ? '' : ` < ${grand}`}`;
    group.retainers.set(by, (group.retainers.get(by) ?? 0) + size);
    groups.set(key, group);
  }
  return groups;
}

function print(title: string, groups: Map<string, Group>, legs: number): void {
  const rows = [...groups].sort((a, b) => b[1].bytes - a[1].bytes);
  const total = rows.reduce((sum, [, g]) => sum + g.bytes, 0);
  console.log(`\n## ${title}: ${(total / legs / 1024).toFixed(2)} KiB of new heap objects per leg`);
  console.log('| bytes/leg | objects/leg | what |');
  console.log('|---:|---:|---|');
  let shown = 0;
  for (const [key, group] of rows.slice(0, TOP)) {
    shown += group.bytes;
    const held = [...group.retainers].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([by, bytes]) => `${(bytes / legs).toFixed(0)} B by ${by}`);
    console.log(`| ${(group.bytes / legs).toFixed(0)} | ${(group.count / legs).toFixed(2)} | ${key} (${held.join('; ')}) |`.replace(/\|(?! )/g, '\\|'));
  }
  console.log(`| ${((total - shown) / legs).toFixed(0)} | | everything else |`);
}

const child = fork(path.join(import.meta.dirname, `ws-legs-far-end${path.extname(import.meta.filename)}`), { stdio: 'inherit' });
const [{ port }] = (await once(child, 'message')) as [{ port: number }];
const url = `ws://127.0.0.1:${port}/probe/ws`;
try {
  const before = writeSnapshot();
  if (values.bare) {
    const clients: WebSocket[] = [];
    const timers: NodeJS.Timeout[] = [];
    await Promise.all(
      Array.from({ length: LEGS }, async () => {
        const ws = new WebSocket(url, { perMessageDeflate: false });
        clients.push(ws);
        await once(ws, 'open');
        let seq = 0;
        ws.on('message', (data: Buffer) => void JSON.parse(data.toString()));
        const timer = setInterval(() => ws.send(JSON.stringify({ seq: ++seq, t: performance.now() })), 1_000);
        timer.unref();
        timers.push(timer);
      }),
    );
    await delay(5_000);
    print(`${LEGS} bare ws clients`, await diffSince(before), LEGS);
    for (const t of timers) clearInterval(t);
    for (const ws of clients) ws.terminate();
  } else {
    const config = wsLegsConfig(LEGS, [port], values.detail);
    const probe = new Probe(config, { processMetrics: false });
    await probe.start({ listen: false });
    while (!probe.legs.every((l) => l.state === 'up')) await delay(50);
    await delay(5_000);
    print(`${LEGS} t3-probe ws legs (metrics.detail: ${values.detail})`, await diffSince(before), LEGS);
    await probe.close();
  }
} finally {
  child.disconnect();
}
