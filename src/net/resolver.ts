/**
 * How a leg turns its URL's hostname into the address it dials: the system resolver, DoH, or a
 * pinned IP. The dns phase is whatever this takes.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { ProbeError, isProbeError } from '../errors.js';
import type { ResolveOptions } from '../config/types.js';
import type { DohResolver } from './doh.js';
import { anySignal } from '../util/any-signal.js';
import { raceSignal } from '../util/race-signal.js';

export interface ResolvedTarget {
  readonly address: string;
  readonly family: 4 | 6;
}

export interface AddressResolver {
  readonly mode: ResolveOptions['mode'];
  resolve(hostname: string, signal: AbortSignal): Promise<ResolvedTarget>;
  /** Resolve again now, bypassing any cache: is the name still resolvable? */
  recheck(hostname: string, signal: AbortSignal): Promise<ResolvedTarget>;
  close(): Promise<void>;
}

class PinnedResolver implements AddressResolver {
  readonly mode = 'pin';
  readonly #target: ResolvedTarget;
  constructor(address: string) {
    this.#target = { address, family: net.isIP(address) === 6 ? 6 : 4 };
  }
  resolve(_hostname: string, signal: AbortSignal): Promise<ResolvedTarget> {
    signal.throwIfAborted();
    return Promise.resolve(this.#target);
  }
  recheck(hostname: string, signal: AbortSignal): Promise<ResolvedTarget> {
    return this.resolve(hostname, signal);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

class SystemResolver implements AddressResolver {
  readonly mode = 'system';
  async resolve(hostname: string, signal: AbortSignal): Promise<ResolvedTarget> {
    signal.throwIfAborted();
    const family = net.isIP(hostname);
    if (family !== 0) return { address: hostname, family: family === 6 ? 6 : 4 };
    try {
      // getaddrinfo can't be cancelled; racing the signal at least frees the caller.
      const result = await raceSignal(lookup(hostname), signal);
      return { address: result.address, family: result.family === 6 ? 6 : 4 };
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw new ProbeError('PROBE_ERR_DNS', `system resolver could not resolve ${hostname}`, { cause: err });
    }
  }
  recheck(hostname: string, signal: AbortSignal): Promise<ResolvedTarget> {
    return this.resolve(hostname, signal);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

class DohAddressResolver implements AddressResolver {
  readonly mode = 'doh';
  constructor(readonly doh: DohResolver) {}
  async resolve(hostname: string, signal: AbortSignal): Promise<ResolvedTarget> {
    try {
      const answer = await this.doh.resolve(hostname, signal);
      return { address: answer.address, family: answer.family };
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (isProbeError(err)) throw err;
      throw new ProbeError('PROBE_ERR_DOH', `DoH resolution of ${hostname} failed`, { cause: err });
    }
  }
  recheck(hostname: string, signal: AbortSignal): Promise<ResolvedTarget> {
    this.doh.clearCache(hostname);
    return this.resolve(hostname, signal);
  }
  // The DohResolver is shared between legs and owned by whoever created it.
  close(): Promise<void> {
    return Promise.resolve();
  }
}


/**
 * Build the resolver for a leg. DoH resolvers are shared through `dohFor` so that legs using the
 * same DoH server share one HTTP/2 connection and one cache.
 */
export function createResolver(options: ResolveOptions, dohFor: (opts: Extract<ResolveOptions, { mode: 'doh' }>['doh']) => DohResolver): AddressResolver {
  switch (options.mode) {
    case 'pin':
      return new PinnedResolver(options.address);
    case 'system':
      return new SystemResolver();
    case 'doh':
      return new DohAddressResolver(dohFor(options.doh));
  }
}

/** A URL's hostname without IPv6 brackets: what SNI, Host and the resolver want. */
export function hostnameOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** Resolve within the leg's connect budget; running out of it is a dns failure, not a hang. */
export async function resolveWithin(
  resolver: AddressResolver,
  hostname: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<ResolvedTarget> {
  // Not AbortSignal.timeout(): its timer can't be cleared and outlives a lookup that took a
  // millisecond by the whole budget, so a flapping leg piled up one per reconnect (the soak saw
  // 600 of them on 20 legs). This one is cleared as soon as the lookup settles.
  const budget = new AbortController();
  const timer = setTimeout(() => budget.abort(new DOMException(`resolving took longer than ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
  timer.unref();
  // Not AbortSignal.any() either: on Node 20 it leaves a WeakRef per call on the leg's signal.
  const deadline = anySignal([signal, budget.signal]);
  try {
    return await resolver.resolve(hostname, deadline.signal);
  } catch (err) {
    signal.throwIfAborted();
    if (isProbeError(err)) throw err;
    throw new ProbeError('PROBE_ERR_DNS', `resolving ${hostname} took longer than ${timeoutMs} ms`, { cause: err });
  } finally {
    clearTimeout(timer);
    deadline.dispose();
  }
}
