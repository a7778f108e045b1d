/**
 * Documentation placeholders left in a config: host names reserved for examples (RFC 2606:
 * example.com, example.net, example.org, and the .example, .test and .invalid top-level domains)
 * and the documentation address blocks (RFC 5737: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24;
 * RFC 3849: 2001:db8::/32). The shipped configs use them on purpose, so nobody mistakes a sample
 * address for theirs; a leg still aimed at one can never connect, and `run --check` says which.
 */
import { BlockList, isIP } from 'node:net';
import { formatValue } from './issues.js';
import type { ProbeConfig } from './types.js';

export interface Placeholder {
  /** The key as config errors write it, with the leg's name: `legs[1] (internal).pin`. */
  readonly key: string;
  /** The host name or address that is a placeholder (for a URL, its host). */
  readonly value: string;
  /** The reserved name or block it falls in, and where that is reserved: `example.com, RFC 2606`. */
  readonly reserved: string;
}

const RESERVED_DOMAINS = ['example.com', 'example.net', 'example.org'];
const RESERVED_TLDS = ['example', 'test', 'invalid'];

const DOCUMENTATION_BLOCKS = [
  { network: '192.0.2.0', prefix: 24, type: 'ipv4', rfc: 'RFC 5737' },
  { network: '198.51.100.0', prefix: 24, type: 'ipv4', rfc: 'RFC 5737' },
  { network: '203.0.113.0', prefix: 24, type: 'ipv4', rfc: 'RFC 5737' },
  { network: '2001:db8::', prefix: 32, type: 'ipv6', rfc: 'RFC 3849' },
] as const;

/** One BlockList per block, so a match can say which block it was. IPv4-mapped IPv6 matches too. */
const BLOCKS = DOCUMENTATION_BLOCKS.map(({ network, prefix, type, rfc }) => {
  const list = new BlockList();
  list.addSubnet(network, prefix, type);
  return { list, reserved: `${network}/${prefix}, ${rfc}` };
});

/** Why `host` (a host name or an IP address) is a placeholder, or undefined if it is not one. */
export function placeholderReason(host: string): string | undefined {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(bare);
  if (family !== 0) {
    const type = family === 4 ? 'ipv4' : 'ipv6';
    return BLOCKS.find(({ list }) => list.check(bare, type))?.reserved;
  }
  const name = bare.toLowerCase().replace(/\.$/, '');
  const domain = RESERVED_DOMAINS.find((d) => name === d || name.endsWith(`.${d}`));
  if (domain !== undefined) return `${domain}, RFC 2606`;
  const tld = RESERVED_TLDS.find((t) => name.endsWith(`.${t}`));
  return tld === undefined ? undefined : `.${tld}, RFC 2606`;
}

/**
 * Every placeholder in the config, in the order of the file: each leg's URL host, pin and Host
 * header, then the DoH server's URL and bootstrap address (once: the legs share one doh).
 */
export function findPlaceholders(config: ProbeConfig): Placeholder[] {
  const found: Placeholder[] = [];
  const check = (key: string, value: string): void => {
    const reserved = placeholderReason(value);
    if (reserved !== undefined) found.push({ key, value, reserved });
  };
  config.legs.forEach((leg, index) => {
    const key = `legs[${index}] (${leg.name})`;
    check(`${key}.url`, new URL(leg.url).hostname);
    if (leg.resolve.mode === 'pin') check(`${key}.pin`, leg.resolve.address);
    for (const [name, value] of Object.entries(leg.headers)) {
      if (name.toLowerCase() === 'host') check(`${key}.headers.${name}`, hostOfHostHeader(value));
    }
  });
  const resolve = config.legs.map((leg) => leg.resolve).find((r) => r.mode === 'doh');
  if (resolve?.mode === 'doh') {
    const { doh } = resolve;
    check('doh.url', new URL(doh.url).hostname);
    if (doh.bootstrap !== undefined) check('doh.bootstrap', doh.bootstrap);
  }
  return found;
}

/** One line per placeholder, in the style of config errors: key, why, and the value. */
export function formatPlaceholder({ key, value, reserved }: Placeholder): string {
  return `${key}: a documentation placeholder (${reserved}): replace it with your own (got ${formatValue(value)})`;
}

/** `t3.example.com:8443` -> `t3.example.com`, `[2001:db8::1]:443` -> `[2001:db8::1]`; a bare IP stays. */
function hostOfHostHeader(value: string): string {
  const host = value.trim();
  return isIP(host) === 0 ? host.replace(/:\d+$/, '') : host;
}
