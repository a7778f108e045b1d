/**
 * Where a config key path ("legs[1].pin") is written in the YAML text, so an error can say
 * `probe.yaml:14:10:` and an editor can jump there. The path is walked through the parsed
 * document itself: aliases are followed and `<<` merge keys searched, so a value a leg merged
 * from an anchor is found where it is actually written.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Pair } from 'yaml';

export interface SourcePosition {
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly col: number;
}

/**
 * `value`: the offending value (a wrong value). `key`: the key itself (an unknown or misplaced
 * key). Either way a path that is not in the text gives the mapping that should hold it.
 */
export type Target = 'key' | 'value';

export type Locate = (path: string, target: Target) => SourcePosition | undefined;

const INDEX = /^\[(\d+)\]/;

export function yamlLocator(doc: Document, lineCounter: LineCounter): Locate {
  const position = (node: unknown): SourcePosition | undefined => {
    const offset = hasRange(node) ? node.range[0] : undefined;
    return offset === undefined ? undefined : lineCounter.linePos(offset);
  };
  return (path, target) => {
    let node: unknown = doc.contents;
    let key: unknown;
    let rest = path;
    while (rest !== '') {
      const container = deref(doc, node);
      let next: { key: unknown; value: unknown; rest: string } | undefined;
      const index = INDEX.exec(rest);
      if (isSeq(container) && index !== null) {
        const item = container.items[Number(index[1])];
        if (item !== undefined) next = { key: undefined, value: item, rest: rest.slice(index[0].length) };
      } else if (isMap(container) && (node === doc.contents ? !rest.startsWith('[') : rest.startsWith('.'))) {
        const body = node === doc.contents ? rest : rest.slice(1);
        const pair = findPair(doc, container.items, body);
        if (pair !== undefined) next = { key: pair.key, value: pair.value, rest: body.slice(keyText(pair.key)?.length ?? 0) };
      }
      // Not in the text (a missing key, or a value from elsewhere): point at the mapping that should hold it.
      if (next === undefined) return position(container ?? node);
      ({ key, value: node, rest } = next);
    }
    // An empty value (`key:`) has no text of its own to point at: its key is where to look.
    const empty = node === null || node === undefined || (isScalar(node) && node.value === null);
    return target === 'key' || empty ? (position(key) ?? position(node)) : position(node);
  };
}

/**
 * The pair whose key starts `body` (followed by the end, "." or "["). The longest key wins, so a
 * header called "X.Trace" is found as one key. Own keys come before merged ones, as in YAML.
 */
function findPair(doc: Document, items: readonly Pair[], body: string, depth = 0): Pair | undefined {
  let best: Pair | undefined;
  for (const pair of items) {
    const text = keyText(pair.key);
    if (text === undefined || !body.startsWith(text)) continue;
    const after = body[text.length];
    if (after !== undefined && after !== '.' && after !== '[') continue;
    if (best === undefined || text.length > (keyText(best.key)?.length ?? 0)) best = pair;
  }
  if (best !== undefined || depth > 8) return best;
  for (const pair of items) {
    if (!isMergeKey(pair.key)) continue;
    const source = deref(doc, pair.value);
    const sources = isSeq(source) ? source.items.map((item) => deref(doc, item)) : [source];
    for (const map of sources) {
      const found = isMap(map) ? findPair(doc, map.items, body, depth + 1) : undefined;
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** The key as the parsed config spells it (toJS turns scalar keys into strings). */
function keyText(key: unknown): string | undefined {
  if (!isScalar(key) || typeof key.value === 'symbol') return undefined;
  return String(key.value);
}

function isMergeKey(key: unknown): boolean {
  return isScalar(key) && (key.value === '<<' || (typeof key.value === 'symbol' && key.value.description === '<<'));
}

function deref(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

function hasRange(node: unknown): node is { range: readonly [number, ...number[]] } {
  return typeof node === 'object' && node !== null && Array.isArray((node as { range?: unknown }).range);
}
