/**
 * Tie a resource's close to an AbortSignal: when the signal aborts, `close()` runs. A signal that
 * has already aborted closes the resource now and throws its reason. Returns the function that
 * unties the two; call it from close itself, so a closed resource keeps no listener on the signal.
 */
export async function closeOnAbort(signal: AbortSignal | undefined, close: () => Promise<void>): Promise<() => void> {
  if (signal === undefined) return noop;
  if (signal.aborted) {
    await close();
    signal.throwIfAborted();
  }
  const onAbort = (): void => void close();
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

function noop(): void {}
