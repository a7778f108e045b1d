/**
 * Collects every problem found in a config so the user fixes them in one pass, then throws them
 * together as one PROBE_ERR_CONFIG, one problem per line. A line says where the problem is
 * written (`probe.yaml:14:10:` for a file, `14:10:` for text given without a file, nothing for a
 * plain object or an environment variable), then the key path with the leg's name, then why:
 * `probe.yaml:14:10: legs[1] (internal).pin: must be an IP address (got "x")`.
 */
import { ProbeError } from '../errors.js';
import type { Locate, SourcePosition, Target } from './locate.js';

/** Past this many lines the rest are counted, not listed: nobody reads 10000 copies of one mistake. */
const MAX_LINES = 100;
const MAX_VALUE_CHARS = 80;
const LEG_PATH = /^legs\[(\d+)\]/;

/** Where the config came from, so a problem can say where it is written. */
export interface IssueSource {
  /** The file name as the user gave it; undefined for text or a plain object. */
  readonly name?: string | undefined;
  /** Undefined for a plain object, which has no text to point into. */
  readonly locate?: Locate | undefined;
}

interface Issue {
  /** Key path ("legs[0].url"), environment variable name, or "" for the document as a whole. */
  readonly path: string;
  readonly reason: string;
  readonly position: SourcePosition | undefined;
}

export class ConfigIssues {
  readonly #issues: Issue[] = [];
  readonly #source: IssueSource;
  readonly #legNames = new Map<number, string>();

  constructor(source: IssueSource = {}) {
    this.#source = source;
  }

  /**
   * A value the user gave that is wrong; the line ends with `(got <value as JSON>)`. It points at
   * the value, or with `at: 'key'` at the key (a bad header name is wrong as a key).
   */
  invalid(path: string, reason: string, got: unknown, at: Target = 'value'): void {
    this.#add(path, `${reason} (got ${formatValue(got)})`, at);
  }

  /** A problem with no value to show (a missing, unknown or misplaced key); it points at the key. */
  problem(path: string, reason: string): void {
    this.#add(path, reason, 'key');
  }

  /** A problem with the text itself, such as a YAML syntax error, at a known position. */
  syntax(position: SourcePosition, reason: string): void {
    this.#issues.push({ path: '', reason, position });
  }

  /** Lines about `legs[index]` name the leg too: "legs[1] (internal).pin". Only a valid name is given. */
  nameLeg(index: number, name: string): void {
    this.#legNames.set(index, name);
  }

  get count(): number {
    return this.#issues.length;
  }

  /** All problems as one error (`key` is the first problem's plain path), or undefined if there are none. */
  toError(): ProbeError | undefined {
    const first = this.#issues[0];
    if (first === undefined) return undefined;
    const lines = this.#issues.slice(0, MAX_LINES).map((issue) => this.#line(issue));
    const more = this.#issues.length - MAX_LINES;
    if (more > 0) lines.push(`... and ${more} more problems`);
    return new ProbeError('PROBE_ERR_CONFIG', lines.join('\n'), first.path === '' ? {} : { key: first.path });
  }

  #add(path: string, reason: string, at: Target): void {
    this.#issues.push({ path, reason, position: path === '' ? undefined : this.#source.locate?.(path, at) });
  }

  #line({ path, reason, position }: Issue): string {
    const shown = path.replace(LEG_PATH, (legPath, index: string) => {
      const name = this.#legNames.get(Number(index));
      return name === undefined ? legPath : `${legPath} (${name})`;
    });
    // No position: the value is not in the text (an environment variable, a plain object).
    const where = position === undefined ? '' : `${prefix(this.#source.name)}${position.line}:${position.col}: `;
    return `${where}${shown === '' ? '' : `${shown}: `}${reason}`;
  }
}

/** An error about the document as a whole (empty, not a mapping): it names the file, if any. */
export function documentError(name: string | undefined, reason: string, cause?: unknown): ProbeError {
  return new ProbeError('PROBE_ERR_CONFIG', name === undefined ? reason : `${name}: ${reason}`, cause === undefined ? {} : { cause });
}

/** `probe.yaml:` as compilers print it, the file as the user named it. */
function prefix(name: string | undefined): string {
  return name === undefined ? '' : `${name}:`;
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
