/**
 * What the ws and http legs share: a URL whose hostname is resolved by the leg's resolver
 * (system, DoH or pinned) within the connect budget, with the dns phase timed.
 */
import type { HttpLegOptions, IdleLegOptions, WsLegOptions } from '../config/types.js';
import { nowNs, secondsSince } from '../util/clock.js';
import { Leg, type LegDeps, type LegSession } from './leg.js';
import { hostnameOf, resolveWithin, type AddressResolver } from '../net/resolver.js';
import { toError } from '../errors.js';
import { anySignal } from '../util/any-signal.js';

export interface UrlLegDeps extends LegDeps {
  readonly resolver: AddressResolver;
}

export interface ResolvedForConnect {
  readonly address: string;
  /** What is left of connectTimeoutMs for tcp, tls and the upgrade. */
  readonly remainingMs: number;
}

export abstract class UrlLeg<Options extends WsLegOptions | HttpLegOptions | IdleLegOptions> extends Leg {
  readonly options: Options;
  protected readonly url: URL;
  /** The URL's hostname: Host header, SNI and certificate identity, whatever address we dial. */
  protected readonly hostname: string;
  readonly #resolver: AddressResolver;

  constructor(options: Options, deps: UrlLegDeps) {
    super(options, deps);
    this.options = options;
    this.#resolver = deps.resolver;
    this.url = new URL(options.url);
    this.hostname = hostnameOf(this.url);
  }

  protected get secure(): boolean {
    return this.url.protocol === 'wss:' || this.url.protocol === 'https:';
  }

  protected get port(): number {
    return Number(this.url.port || (this.secure ? 443 : 80));
  }

  /**
   * While a DoH-resolved session is up, re-resolve its hostname every `dnsRecheckMs`: a
   * connected WebSocket never notices that public DNS died, but every new user would. A failed
   * recheck ends the session (reason `dns`). Other resolve modes: nothing to watch.
   */
  protected watchDns(session: LegSession & { fail(err: Error): void }): LegSession {
    if (this.options.resolve.mode !== 'doh') return session;
    const stop = new AbortController();
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      // Neither AbortSignal.timeout() (its timer can't be cleared) nor AbortSignal.any() (on Node 20
      // it leaves a WeakRef per call on the session's signal): both are released when it settles.
      const budget = new AbortController();
      const budgetTimer = setTimeout(() => budget.abort(new DOMException(`DNS recheck took longer than ${this.options.connectTimeoutMs} ms`, 'TimeoutError')), this.options.connectTimeoutMs);
      budgetTimer.unref();
      const deadline = anySignal([stop.signal, budget.signal]);
      const settled = (): void => {
        running = false;
        clearTimeout(budgetTimer);
        deadline.dispose();
      };
      this.#resolver.recheck(this.hostname, deadline.signal).then(settled, (err: unknown) => {
        settled();
        if (!stop.signal.aborted) session.fail(toError(err));
      });
    }, this.options.dnsRecheckMs);
    timer.unref();
    void session.ended.then(() => {
      clearInterval(timer);
      stop.abort();
    });
    return session;
  }

  protected async resolveForConnect(signal: AbortSignal): Promise<ResolvedForConnect> {
    const started = nowNs();
    const target = await resolveWithin(this.#resolver, this.hostname, this.options.connectTimeoutMs, signal);
    const seconds = secondsSince(started);
    this.recordPhase('dns', seconds);
    this.setRemoteAddress(target.address);
    return { address: target.address, remainingMs: Math.max(1, this.options.connectTimeoutMs - seconds * 1000) };
  }
}
