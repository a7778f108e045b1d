/**
 * The address the metrics and /status server listens on: "host:port", ":port" (all IPv4
 * interfaces) or "[v6-address]:port".
 */
import { isIPv6 } from 'node:net';
import type { ListenAddress } from './types.js';

const LISTEN = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d+)$/;
const HOST = /^[A-Za-z0-9.-]+$/;

/** The parsed address, or the reason the text is not one (for a config error line). */
export function parseListen(text: string): ListenAddress | string {
  const match = LISTEN.exec(text.trim());
  if (match === null) return 'must be "host:port"';
  const [, bracketed, plain, portText] = match;
  const port = Number(portText);
  if (!Number.isSafeInteger(port) || port > 65_535) return 'must have a port from 0 to 65535';
  if (bracketed !== undefined) {
    return isIPv6(bracketed) ? { host: bracketed, port } : 'must have an IPv6 address inside [brackets]';
  }
  if (plain === undefined || plain === '') return { host: '0.0.0.0', port };
  return HOST.test(plain) ? { host: plain, port } : 'must be "host:port"';
}
