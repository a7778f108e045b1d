/**
 * AbortSignal.any() with an explicit end: the combined signal aborts when any source does, and
 * `dispose()` removes its listeners from the sources once the work it guarded is over.
 *
 * Why not AbortSignal.any(): on Node 20 each call leaves a WeakRef in every source's set of
 * dependants that nothing ever removes (Node 22 prunes them after GC). Combining a long-lived
 * signal (a leg's, a session's) once per reconnect or per request grew the heap for good: the
 * soak measured about 60 bytes per cycle, 1.1 MB per 10,000 cycles.
 */
export interface CombinedSignal {
  readonly signal: AbortSignal;
  /** Untie the combined signal from its sources. Idempotent; call it in a `finally`. */
  dispose(): void;
}

export function anySignal(sources: readonly AbortSignal[]): CombinedSignal {
  const controller = new AbortController();
  const already = sources.find((source) => source.aborted);
  if (already !== undefined) {
    controller.abort(already.reason);
    return { signal: controller.signal, dispose: noop };
  }
  const listeners = sources.map((source) => {
    const onAbort = (): void => {
      dispose();
      controller.abort(source.reason);
    };
    source.addEventListener('abort', onAbort, { once: true });
    return { source, onAbort };
  });
  const dispose = (): void => {
    for (const { source, onAbort } of listeners.splice(0)) source.removeEventListener('abort', onAbort);
  };
  return { signal: controller.signal, dispose };
}

function noop(): void {}
