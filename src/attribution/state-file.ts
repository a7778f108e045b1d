/**
 * The `state:` file: /status's history (the drop ring, and the spans of time the probe watched)
 * kept across restarts, so a restart does not erase the evidence of the drops just before it.
 *
 * Written atomically: a temp file in the same directory, fsync'd, renamed over the old file, and
 * the directory fsync'd, so a crash or a full disk leaves either the old file or the new one, never
 * half of one. Read back at start-up and validated like any untrusted input: a file that cannot be
 * read, is not JSON, has another version or a malformed entry is reported (the caller logs the
 * reason) and ignored as a whole. The size is bounded by the ring and MAX_OBSERVED_SPANS.
 *
 * What it does NOT claim: the time between the last write and the next start. That gap was not
 * observed, so it is in no span, and attribution says "no data" for it.
 */
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LEG_KIND_NAMES } from '../config/leg-kinds.js';
import type { DropEvent } from '../legs/leg.js';
import { REASONS } from '../reasons.js';
import type { ObservedSpan } from './verdict.js';

/** Bump when the shape changes; a file of another version is reported and ignored. */
export const STATE_FILE_VERSION = 1;
/** Runs remembered: each restart adds one span, the oldest are forgotten. */
export const MAX_OBSERVED_SPANS = 64;
/** 10,000 drops (the largest ring) of about 600 bytes each fit with room to spare. */
const MAX_STATE_FILE_BYTES = 16 * 1024 * 1024;

export interface ProbeHistory {
  /** Oldest first, at most MAX_OBSERVED_SPANS. */
  readonly observed: readonly ObservedSpan[];
  /** Oldest first, at most the ring's capacity. */
  readonly drops: readonly DropEvent[];
}

interface StateFileDoc extends ProbeHistory {
  readonly version: number;
  /** Unix ms of this write: the end of the span of the run that wrote it. */
  readonly writtenAt: number;
}

export type StateFileRead = { readonly history: ProbeHistory } | { readonly problem: string } | { readonly missing: true };

/** Read and validate a state file. A missing file is normal (a first start); anything else wrong is a `problem`. */
export async function readStateFile(path: string): Promise<StateFileRead> {
  let text: string;
  try {
    const { size } = await stat(path);
    if (size > MAX_STATE_FILE_BYTES) return { problem: `larger than ${MAX_STATE_FILE_BYTES} bytes (${size})` };
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { missing: true };
    return { problem: `cannot read it (${code ?? (err as Error).message})` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { problem: 'not JSON (a torn or foreign file)' };
  }
  if (!isRecord(raw)) return { problem: 'not a JSON object' };
  if (raw['version'] !== STATE_FILE_VERSION) return { problem: `version ${JSON.stringify(raw['version'])}, this probe reads version ${STATE_FILE_VERSION}` };
  const { observed, drops } = raw;
  if (!Array.isArray(observed) || !observed.every(isSpan)) return { problem: '"observed" is not a list of {from, to} spans' };
  if (!Array.isArray(drops)) return { problem: '"drops" is not a list' };
  const bad = drops.findIndex((d) => !isDrop(d));
  if (bad >= 0) return { problem: `drops[${bad}] is not a drop event` };
  return { history: { observed: observed.slice(-MAX_OBSERVED_SPANS), drops: drops as DropEvent[] } };
}

/** Replace the state file atomically (temp, fsync, rename, fsync the directory). */
export async function writeStateFile(path: string, history: ProbeHistory, writtenAt = Date.now()): Promise<void> {
  const doc: StateFileDoc = {
    version: STATE_FILE_VERSION,
    writtenAt,
    observed: history.observed.slice(-MAX_OBSERVED_SPANS),
    drops: history.drops,
  };
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(JSON.stringify(doc));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  // The rename is durable only once the directory entry is on disk.
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function isSpan(value: unknown): value is ObservedSpan {
  return isRecord(value) && isTime(value['from']) && isTime(value['to']) && value['from'] <= value['to'];
}

function isNumberOrNull(value: unknown): boolean {
  return value === null || (typeof value === 'number' && Number.isFinite(value));
}

function isDrop(value: unknown): value is DropEvent {
  return (
    isRecord(value) &&
    typeof value['leg'] === 'string' &&
    (LEG_KIND_NAMES as readonly unknown[]).includes(value['kind']) &&
    (REASONS as readonly unknown[]).includes(value['reason']) &&
    typeof value['code'] === 'string' &&
    typeof value['message'] === 'string' &&
    isTime(value['at']) &&
    typeof value['time'] === 'string' &&
    isNumberOrNull(value['upForSeconds']) &&
    isNumberOrNull(value['lastRttSeconds']) &&
    isNumberOrNull(value['recoveredAt'])
  );
}
