/**
 * Reading a DNS answer: names as they go on the wire, and the addresses an answer gives for a
 * name, following CNAMEs inside that one answer (never further queries), with the chain's TTL.
 */
import { isIP } from 'node:net';
import type { Answer } from 'dns-packet';

const MAX_CNAME_HOPS = 16;
/** RFC 2181 §8: a TTL with its most significant bit set is read as 0. */
const MAX_TTL_S = 2 ** 31 - 1;

export type RecordKind = 'A' | 'AAAA';

/** What one DoH exchange said. Transport failures are thrown instead, as PROBE_ERR_DOH. */
export type QueryOutcome =
  | { readonly ok: true; readonly addresses: readonly string[]; readonly ttlS: number }
  | { readonly ok: false; readonly rcode: string };

/** Lower-case, no trailing dot; undefined when the name cannot be put on the wire. */
export function normalizeName(hostname: string): string | undefined {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  if (name.length === 0 || Buffer.byteLength(name) > 253) return undefined;
  for (const label of name.split('.')) {
    const bytes = Buffer.byteLength(label);
    if (bytes === 0 || bytes > 63) return undefined;
  }
  return name;
}

/** Whether a name from an answer is `b` (already normalized). */
export function sameName(a: string, b: string): boolean {
  return a.toLowerCase().replace(/\.$/, '') === b;
}

function ttlOf(rr: Answer): number {
  const ttl = 'ttl' in rr ? (rr.ttl ?? 0) : 0;
  return ttl > MAX_TTL_S ? 0 : ttl;
}

function stringData(rr: Answer, type: RecordKind | 'CNAME'): string | undefined {
  if (rr.type !== type || !('data' in rr)) return undefined;
  return typeof rr.data === 'string' ? rr.data : undefined;
}

/** The addresses for name, following CNAMEs inside this one answer. */
export function followChain(answers: readonly Answer[], name: string, type: RecordKind): QueryOutcome {
  const valid = type === 'A' ? (s: string) => isIP(s) === 4 : (s: string) => isIP(s) === 6;
  const seen = new Set<string>();
  let current = name;
  let ttlS = Number.POSITIVE_INFINITY;
  for (let hop = 0; hop <= MAX_CNAME_HOPS && !seen.has(current); hop++) {
    seen.add(current);
    const rrset = answers.filter((rr) => sameName(rr.name, current) && valid(stringData(rr, type) ?? ''));
    if (rrset.length > 0) {
      for (const rr of rrset) ttlS = Math.min(ttlS, ttlOf(rr));
      return { ok: true, addresses: rrset.map((rr) => stringData(rr, type) ?? ''), ttlS };
    }
    const cname = answers.find((rr) => sameName(rr.name, current) && stringData(rr, 'CNAME') !== undefined);
    const target = cname === undefined ? undefined : normalizeName(stringData(cname, 'CNAME') ?? '');
    if (cname === undefined || target === undefined) break;
    ttlS = Math.min(ttlS, ttlOf(cname));
    current = target;
  }
  return { ok: false, rcode: 'NOERROR' };
}
