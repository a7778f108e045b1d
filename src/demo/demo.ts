/**
 * `t3-probe demo`: the whole product on loopback, with nothing external. A throwaway CA signs the
 * certificates; a DoH responder (HTTP/2, like unbound) answers the demo hostname with 127.0.0.1;
 * an echo server speaks wss; a plain HTTP echo plays the serve process. The probe then holds the
 * three production legs against them.
 */
import { DEFAULT_BACKOFF, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_DNS_RECHECK_MS, DEFAULT_DOH } from '../config/defaults.js';
import type { LegOptions, ListenAddress, ProbeConfig, TlsOptions } from '../config/types.js';
import { startEchoServer, type EchoServer } from '../echo/server.js';
import type { Logger } from '../log.js';
import { Probe } from '../probe.js';
import { startDohResponder, type DohResponder } from './doh-responder.js';
import { createCertificateAuthority } from './pki.js';

export const DEMO_HOSTNAME = 'demo.t3probe.test';
const DOH_HOSTNAME = 'doh.t3probe.test';
export const DEMO_LISTEN: ListenAddress = { host: '127.0.0.1', port: 9464 };

export interface Demo {
  readonly probe: Probe;
  readonly echo: EchoServer;
  readonly serve: EchoServer;
  readonly doh: DohResponder;
  close(): Promise<void>;
}

export async function startDemo(options: { listen?: ListenAddress; logger: Logger; signal?: AbortSignal }): Promise<Demo> {
  options.signal?.throwIfAborted();
  const ca = createCertificateAuthority('t3-probe demo CA');
  const trustDemoCa: TlsOptions = { ca: ca.certPem, insecure: false };
  const opened: { close(): Promise<void> }[] = [];
  try {
    const loopback = { host: '127.0.0.1', port: 0 };
    const echo = await startEchoServer({ listen: loopback, tls: ca.issue([DEMO_HOSTNAME]) });
    opened.push(echo);
    const serve = await startEchoServer({ listen: loopback });
    opened.push(serve);
    const doh = await startDohResponder({
      tls: ca.issue([DOH_HOSTNAME]),
      records: { [DEMO_HOSTNAME]: { A: ['127.0.0.1'], ttl: 30 } },
    });
    opened.push(doh);

    const publicUrl = `wss://${DEMO_HOSTNAME}:${echo.httpAddress.port}/probe/ws`;
    const common = {
      intervalMs: 1_000,
      deadlineMs: 2_000,
      connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
      backoff: { ...DEFAULT_BACKOFF },
      headers: {},
      dnsRecheckMs: DEFAULT_DNS_RECHECK_MS,
    };
    const legs: LegOptions[] = [
      {
        ...common,
        kind: 'ws',
        name: 'cloudflare',
        role: 'public',
        url: publicUrl,
        maxPayloadBytes: 65_536,
        tls: trustDemoCa,
        resolve: {
          mode: 'doh',
          doh: {
            url: `https://${DOH_HOSTNAME}:${doh.port}/dns-query`,
            method: DEFAULT_DOH.method,
            bootstrap: '127.0.0.1',
            timeoutMs: DEFAULT_DOH.timeoutMs,
            tls: trustDemoCa,
            family: 4,
            minTtlS: 0,
            maxTtlS: 3600,
          },
        },
      },
      { ...common, kind: 'ws', name: 'internal', role: 'internal', url: publicUrl, maxPayloadBytes: 65_536, tls: trustDemoCa, resolve: { mode: 'pin', address: '127.0.0.1' } },
      {
        ...common,
        kind: 'http',
        name: 't3serve',
        role: 'serve',
        url: `http://127.0.0.1:${serve.httpAddress.port}/probe/healthz`,
        maxBodyBytes: 1024 * 1024,
        tls: { insecure: false },
        resolve: { mode: 'system' },
      },
    ];
    const config: ProbeConfig = {
      listen: options.listen ?? DEMO_LISTEN,
      metrics: { prefix: 't3probe_' },
      log: { level: 'info' },
      dropHistory: 256,
      legs,
    };
    const probe = new Probe(config, { logger: options.logger });
    opened.push(probe);
    await probe.start(options.signal === undefined ? {} : { signal: options.signal });
    let closing: Promise<void> | undefined;
    return {
      probe,
      echo,
      serve,
      doh,
      close() {
        closing ??= (async () => {
          await probe.close();
          await Promise.all([echo.close(), serve.close(), doh.close()]);
        })();
        return closing;
      },
    };
  } catch (err) {
    await Promise.allSettled(opened.reverse().map((o) => o.close()));
    throw err;
  }
}
