/**
 * Durations in config and on the command line: "500ms", "2s", "16m", "1h30m", or a bare number of
 * seconds. Returns milliseconds, or undefined when the text is not a duration.
 */
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const PART = /(\d+)(?:\.(\d+))?(ms|s|m|h)/g;
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;

export function parseDurationMs(input: string | number): number | undefined {
  if (typeof input === 'number') return finite(Number.isFinite(input) && input >= 0 ? input * 1000 : undefined);
  const text = input.trim();
  const bare = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (bare !== null) return finite(amountMs(bare[1] ?? '', bare[2] ?? '', 1_000));
  if (!WHOLE.test(text)) return undefined;
  let total = 0;
  for (const [, whole, decimals, unit] of text.matchAll(PART)) total += amountMs(whole ?? '', decimals ?? '', UNIT_MS[unit ?? 's'] ?? 0);
  return finite(total);
}

/**
 * `whole.decimals` × unitMs as one division of whole numbers, so "1.001s" is 1001 ms exactly
 * (1.001 * 1000 is 1000.9999999999999 in binary floating point).
 */
function amountMs(whole: string, decimals: string, unitMs: number): number {
  return (Number(whole + decimals) * unitMs) / 10 ** decimals.length;
}

/** 400 digits of seconds is Infinity, which no timer can use: not a duration. */
function finite(ms: number | undefined): number | undefined {
  return ms !== undefined && Number.isFinite(ms) ? ms : undefined;
}

/** Render milliseconds the way a human would write them in config: 1500 -> "1.5s". */
export function formatDurationMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(3))}s`;
  if (ms < 3_600_000) return `${Number((ms / 60_000).toFixed(2))}m`;
  return `${Number((ms / 3_600_000).toFixed(2))}h`;
}
