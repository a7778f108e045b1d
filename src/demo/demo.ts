/**
 * `t3-probe demo`: the whole product on loopback, with nothing external. A throwaway CA signs the
 * certificates; a DoH responder (HTTP/2, like unbound) answers the demo hostname with 127.0.0.1;
 * an echo server speaks wss; a plain HTTP echo plays the serve process. The probe then holds the
 * three production legs against them.
 */
import { DEMO_LISTEN } from '../config/defaults.js';
import { buildConfig } from '../config/load.js';
import type { ListenAddress } from '../config/types.js';
import { startEchoServer, type EchoServer } from '../echo/server.js';
import type { Logger } from '../log.js';
import { Probe } from '../probe.js';
import { startDohResponder, type DohResponder } from './doh-responder.js';
import { createCertificateAuthority } from './pki.js';

export const DEMO_HOSTNAME = 'demo.t3probe.test';
const DOH_HOSTNAME = 'doh.t3probe.test';
/** What the demo config's tls.ca keys name: never read from disk, the CA only exists in memory. */
const DEMO_CA_FILE = 'demo-ca.pem';

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

    // The production shape (README, Configuration), through the same validation as a config
    // file; everything not written here takes the documented default.
    const publicUrl = `wss://${DEMO_HOSTNAME}:${echo.httpAddress.port}/probe/ws`;
    const trustDemoCa = { ca: DEMO_CA_FILE };
    const raw = {
      doh: { url: `https://${DOH_HOSTNAME}:${doh.port}/dns-query`, bootstrap: '127.0.0.1', family: 4, tls: trustDemoCa },
      legs: [
        { name: 'cloudflare', kind: 'ws', role: 'public', url: publicUrl, resolve: 'doh', tls: trustDemoCa },
        { name: 'internal', kind: 'ws', role: 'internal', url: publicUrl, pin: '127.0.0.1', tls: trustDemoCa },
        { name: 't3serve', kind: 'http', role: 'serve', url: `http://127.0.0.1:${serve.httpAddress.port}/probe/healthz` },
      ],
    };
    // The demo ignores T3PROBE_* variables; its tls.ca is read from memory, not from disk.
    const loaded = buildConfig(raw, { env: {}, baseDir: process.cwd() }, () => ca.certPem);
    const config = { ...loaded, listen: options.listen ?? DEMO_LISTEN };
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
