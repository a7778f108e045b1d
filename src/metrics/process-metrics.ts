/**
 * prom-client's process and Node.js metrics, less the ones that block the event loop for a time
 * that grows with the number of legs. Measured at 10,000 legs, one scrape ran these synchronously:
 * `process_open_fds` (readdirSync of /proc/self/fd) 20-26 ms, `nodejs_active_handles` 8-30 ms,
 * `nodejs_active_resources` 4-8 ms, and their `_total` and `nodejs_active_requests*` siblings
 * 1-6 ms each: together 45-60 ms in which no heartbeat could leave. `process_open_fds` stays,
 * read off the event loop (the directory is listed on libuv's thread pool); the active
 * handle/request/resource counts are dropped: at thousands of legs they count the legs' sockets,
 * which `t3probe_connected` and `process_open_fds` already say.
 */
import { readdir } from 'node:fs/promises';
import { Gauge, collectDefaultMetrics, type Registry } from 'prom-client';

/** The default metrics not registered, and why (see the module comment). */
export const DROPPED_DEFAULT_METRICS = [
  'process_open_fds',
  'nodejs_active_handles',
  'nodejs_active_handles_total',
  'nodejs_active_requests',
  'nodejs_active_requests_total',
  'nodejs_active_resources',
  'nodejs_active_resources_total',
] as const;

export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(name);
  if (process.platform !== 'linux') return;
  new Gauge({
    name: 'process_open_fds',
    help: 'Number of open file descriptors.',
    registers: [registry],
    async collect() {
      try {
        this.set((await readdir('/proc/self/fd')).length);
      } catch {
        // /proc not mounted: no value rather than a wrong one
      }
    },
  });
}
