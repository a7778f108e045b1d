/**
 * Loading the t3-probe config: YAML text or file -> validated, normalized ProbeConfig. Every
 * problem is reported at once in one PROBE_ERR_CONFIG, one line per problem, for example
 * `legs[2].deadline: must be a duration greater than 0 (got "-5s")`. The keys are documented in
 * docs/config-reference.md.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ProbeError } from '../errors.js';
import { ConfigIssues } from './issues.js';
import { normalize } from './schema.js';
import type { ProbeConfig } from './types.js';

export { DEFAULT_LISTEN } from './defaults.js';
export { ENV_OVERRIDES, type EnvOverride } from './env.js';

export interface LoadOptions {
  /** Source of the T3PROBE_* overrides (see ENV_OVERRIDES). Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Directory for relative file paths such as tls.ca. Default: process.cwd(). */
  baseDir?: string;
}

/**
 * Room for every one of 10000 legs to use a few `<<: *anchor` merges, while nested aliases that
 * expand exponentially (the "billion laughs") are still refused.
 */
const MAX_ALIAS_COUNT = 100_000;

/** Parse and validate YAML config text. Throws ProbeError('PROBE_ERR_CONFIG'). */
export function parseConfig(yamlText: string, options: LoadOptions = {}): ProbeConfig {
  const lineCounter = new LineCounter();
  // merge: true lets a config share leg settings with `<<: *anchor`.
  const doc = parseDocument(yamlText, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true });
  const issues = new ConfigIssues();
  for (const error of doc.errors) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    issues.problem('', `YAML syntax error at line ${line}, column ${col}: ${error.message}`);
  }
  const syntaxError = issues.toError();
  if (syntaxError !== undefined) throw syntaxError;
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    throw new ProbeError('PROBE_ERR_CONFIG', `YAML error: ${(err as Error).message}`, { cause: err });
  }
  return normalizeConfig(raw, options);
}

/** Read, parse and validate a YAML config file; relative paths in it are relative to its directory. */
export async function loadConfigFile(path: string, options: Omit<LoadOptions, 'baseDir'> = {}): Promise<ProbeConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ProbeError('PROBE_ERR_CONFIG', `cannot read config file ${path} (${reason})`, { cause: err });
  }
  return parseConfig(text, { ...options, baseDir: dirname(resolve(path)) });
}

/** Validate a config given as a plain object (the shape the YAML parses to). */
export function normalizeConfig(raw: unknown, options: LoadOptions = {}): ProbeConfig {
  return normalize(raw, { env: options.env ?? process.env, baseDir: options.baseDir ?? process.cwd() });
}
