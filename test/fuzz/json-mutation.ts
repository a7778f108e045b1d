/**
 * Mutations of a JSON document, for fuzzing readers of untrusted JSON: delete a key, give a value
 * the wrong type (null, "NaN", a number, an object), blow an array up to thousands of copies, or
 * bury a value under deep nesting. Paths are picked among the document's own, so a mutation lands
 * where a reader looks.
 */
import fc from 'fast-check';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = readonly (string | number)[];

export interface Mutation {
  readonly at: number;
  readonly kind: 'delete' | 'rename' | 'replace' | 'wrongType' | 'huge' | 'deep';
  readonly value: Json;
  readonly count: number;
}

const WRONG_TYPES: readonly Json[] = [null, 'NaN', 'Infinity', '-1', '', 0, -1, 1e308, 1.5, true, [], {}, [null], { leg: null }, '2026-11-22T03:04:05Z'];

export const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('delete', 'rename', 'replace', 'wrongType', 'huge', 'deep'),
  value: fc.oneof(fc.constantFrom(...WRONG_TYPES), fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>),
  count: fc.integer({ min: 2, max: 5_000 }),
});

/** The document's paths, breadth first; a deep or huge document offers only its first few thousand. */
function pathsOf(root: Json): Path[] {
  const out: Path[] = [];
  const queue: { value: Json; path: Path }[] = [{ value: root, path: [] }];
  for (let i = 0; i < queue.length && out.length < 5_000; i++) {
    const { value, path } = queue[i] ?? { value: null, path: [] };
    out.push(path);
    if (path.length >= 32) continue;
    if (Array.isArray(value)) value.forEach((item, k) => queue.push({ value: item, path: [...path, k] }));
    else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) queue.push({ value: v, path: [...path, k] });
  }
  return out;
}

function nest(value: Json, depth: number): Json {
  let out = value;
  for (let i = 0; i < depth; i++) out = [out];
  return out;
}

/** Apply `mutations` in order to a deep copy of `doc`. */
export function mutateJson(doc: unknown, mutations: readonly Mutation[]): Json {
  let root = structuredClone(doc) as Json;
  for (const m of mutations) {
    const paths = pathsOf(root);
    const path = paths[m.at % paths.length] ?? [];
    const replacement = (old: Json): Json | undefined => {
      switch (m.kind) {
        case 'delete':
        case 'rename':
          return undefined;
        case 'replace':
          return m.value;
        case 'wrongType':
          return WRONG_TYPES[m.at % WRONG_TYPES.length] ?? null;
        case 'huge':
          return Array.isArray(old) ? Array.from({ length: m.count }, (_, i) => old[i % Math.max(1, old.length)] ?? m.value) : old;
        case 'deep':
          // JSON.stringify recurses; the 100 000-deep case is a raw string in jsonBodyArb.
          return nest(old, m.count % 400);
      }
    };
    if (path.length === 0) {
      root = replacement(root) ?? null;
      continue;
    }
    let parent: Json = root;
    for (const key of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[key] as Json;
    const last = path.at(-1) as string | number;
    const container = parent as Record<string | number, Json>;
    if (m.kind === 'rename' && !Array.isArray(parent) && typeof last === 'string') {
      // A typo (one letter changed), another key's name, or any string at all.
      const renamed = typeof m.value === 'string' ? m.value : `${last.slice(0, -1)}${String.fromCharCode(97 + (m.at % 26))}`;
      const moved = container[last] as Json;
      delete container[last];
      container[renamed] = moved;
      continue;
    }
    const next = m.kind === 'rename' ? container[last] : replacement(container[last] as Json);
    if (next === undefined) {
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else delete container[last];
    } else container[last] = next;
  }
  return root;
}

/** Bodies for a JSON reader: a mutated valid document most of the time, sometimes plain junk. */
export function jsonBodyArb(valid: unknown): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.array(mutationArb, { minLength: 1, maxLength: 4 }).map((ms) => JSON.stringify(mutateJson(valid, ms))) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 200 }), fc.constantFrom('', 'null', '[', '{"legs":', '\u0000', `${'['.repeat(100_000)}${']'.repeat(100_000)}`)) },
  );
}
