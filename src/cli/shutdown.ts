/**
 * Run until SIGTERM/SIGINT, then close gracefully. A second signal exits at once, because an
 * operator pressing Ctrl-C twice means it.
 */
export function onShutdownSignal(close: () => Promise<void>, log: (message: string) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    let closing = false;
    const handler = (signal: NodeJS.Signals): void => {
      if (closing) {
        log(`${signal} again: exiting now`);
        process.exit(1);
      }
      closing = true;
      log(`${signal}: closing gracefully`);
      void close().finally(() => {
        process.removeListener('SIGINT', handler);
        process.removeListener('SIGTERM', handler);
        resolve();
      });
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}
