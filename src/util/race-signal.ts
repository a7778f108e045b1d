/**
 * `promise`, or the signal's reason as soon as the signal aborts, whichever comes first. The
 * promise itself is left to settle on its own; the abort listener is always removed. `onAbort`
 * runs when the signal is what ended the wait (also when it had aborted already), for callers
 * that must give up a shared resource.
 */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal, onAbort?: () => void): Promise<T> {
  if (signal.aborted) {
    onAbort?.();
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const aborted = (): void => {
      onAbort?.();
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', aborted, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', aborted);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', aborted);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
