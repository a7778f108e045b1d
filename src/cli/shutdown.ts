/**
 * Close gracefully on SIGTERM/SIGINT. The handlers go in before the command starts anything, so
 * a supervisor that sends SIGTERM as soon as it reads the "listening" line always gets the
 * graceful close and exit 0, never the default action (killed by the signal). A signal that
 * comes while the command is still starting is kept, and the close runs as soon as there is
 * something to close.
 *
 * A second signal exits 1 at once, because an operator pressing Ctrl-C twice means it. A
 * graceful close that is still running SHUTDOWN_TIMEOUT_MS after the first signal exits 1 as
 * well, with a log line: a far end that never answers a close frame must not keep a process
 * that was told to stop.
 */
import type { Logger } from '../log.js';
import { formatDurationMs } from '../util/duration.js';
import { SHUTDOWN_TIMEOUT_MS } from './defaults.js';

export type ShutdownLog = Pick<Logger, 'info' | 'error'>;

export interface ShutdownSignals {
  /**
   * Resolves once a signal has come and `close` has finished. When the signal came before this
   * call, `close` runs at once. Call it once.
   */
  closeOnSignal(close: () => Promise<void>): Promise<void>;
  /** `start` as it is; when it fails, the handlers go (nothing will close) and the error stands. */
  whileStarting<T>(start: Promise<T>): Promise<T>;
}

export function listenForShutdown(log: ShutdownLog, timeoutMs = SHUTDOWN_TIMEOUT_MS): ShutdownSignals {
  let signalled = false;
  let bound: NodeJS.Timeout | undefined;
  let runClose: (() => void) | undefined;
  const dispose = (): void => {
    clearTimeout(bound);
    process.removeListener('SIGINT', handler);
    process.removeListener('SIGTERM', handler);
  };
  const handler = (signal: NodeJS.Signals): void => {
    if (signalled) {
      log.info(`${signal} again: exiting now`);
      process.exit(1);
    }
    signalled = true;
    log.info(runClose === undefined ? `${signal} while starting: closing gracefully once started` : `${signal}: closing gracefully`);
    // Ref'd on purpose: this timer is what guarantees the exit while the close hangs.
    bound = setTimeout(() => {
      log.error({ signal, timeoutMs, timeout: formatDurationMs(timeoutMs) }, 'graceful close did not finish in time: exiting');
      process.exit(1);
    }, timeoutMs);
    runClose?.();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    closeOnSignal: (close) =>
      new Promise<void>((resolve) => {
        runClose = () => {
          void close().finally(() => {
            dispose();
            resolve();
          });
        };
        if (signalled) runClose();
      }),
    whileStarting: (start) =>
      start.catch((err: unknown) => {
        dispose();
        throw err;
      }),
  };
}
