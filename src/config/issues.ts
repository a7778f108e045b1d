/**
 * Collects every problem found in a config so the user fixes them in one pass, then throws them
 * together as one PROBE_ERR_CONFIG, one problem per line:
 * `legs[2].deadline: must be a duration greater than 0 (got "-5s")`.
 */
import { ProbeError } from '../errors.js';

/** Past this many lines the rest are counted, not listed: nobody reads 10000 copies of one mistake. */
const MAX_LINES = 100;
const MAX_VALUE_CHARS = 80;

interface Issue {
  /** Key path ("legs[0].url"), environment variable name, or "" for the document as a whole. */
  readonly path: string;
  readonly line: string;
}

export class ConfigIssues {
  readonly #issues: Issue[] = [];

  /** A value the user gave that is wrong; the line ends with `(got <value as JSON>)`. */
  invalid(path: string, reason: string, got: unknown): void {
    this.problem(path, `${reason} (got ${formatValue(got)})`);
  }

  /** A problem with no value to show: a missing key, an unknown key, a YAML syntax error. */
  problem(path: string, reason: string): void {
    this.#issues.push({ path, line: path === '' ? reason : `${path}: ${reason}` });
  }

  get count(): number {
    return this.#issues.length;
  }

  /** All problems as one error (`key` is the first problem's path), or undefined if there are none. */
  toError(): ProbeError | undefined {
    const first = this.#issues[0];
    if (first === undefined) return undefined;
    const lines = this.#issues.slice(0, MAX_LINES).map((issue) => issue.line);
    const more = this.#issues.length - MAX_LINES;
    if (more > 0) lines.push(`... and ${more} more problems`);
    return new ProbeError('PROBE_ERR_CONFIG', lines.join('\n'), first.path === '' ? {} : { key: first.path });
  }
}

/** JSON for the `(got ...)` part, so a string shows its quotes and any stray newline. */
export function formatValue(value: unknown): string {
  let text: string;
  if (typeof value === 'number' && !Number.isFinite(value)) text = String(value);
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 3)}...` : text;
}
