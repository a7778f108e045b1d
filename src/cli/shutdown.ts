/**
 * Run until SIGTERM/SIGINT, then close gracefully. A second signal exits 1 at once, because an
 * operator pressing Ctrl-C twice means it. A graceful close that is still running after
 * SHUTDOWN_TIMEOUT_MS exits 1 as well, with a log line: a far end that never answers a close
 * frame must not keep a process that was told to stop.
 */
import type { Logger } from '../log.js';
import { formatDurationMs } from '../util/duration.js';
import { SHUTDOWN_TIMEOUT_MS } from './defaults.js';

export type ShutdownLog = Pick<Logger, 'info' | 'error'>;

export function onShutdownSignal(close: () => Promise<void>, log: ShutdownLog, timeoutMs = SHUTDOWN_TIMEOUT_MS): Promise<void> {
  return new Promise<void>((resolve) => {
    let closing = false;
    const handler = (signal: NodeJS.Signals): void => {
      if (closing) {
        log.info(`${signal} again: exiting now`);
        process.exit(1);
      }
      closing = true;
      log.info(`${signal}: closing gracefully`);
      // Ref'd on purpose: this timer is what guarantees the exit while the close hangs.
      const bound = setTimeout(() => {
        log.error({ signal, timeoutMs, timeout: formatDurationMs(timeoutMs) }, 'graceful close did not finish in time: exiting');
        process.exit(1);
      }, timeoutMs);
      void close().finally(() => {
        clearTimeout(bound);
        process.removeListener('SIGINT', handler);
        process.removeListener('SIGTERM', handler);
        resolve();
      });
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}
