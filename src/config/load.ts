/**
 * Loading the t3-probe config: YAML text or file -> validated, normalized ProbeConfig. Every
 * problem is reported at once in one PROBE_ERR_CONFIG, one line per problem, for example
 * `probe.yaml:14:15: legs[2] (t3serve).deadline: must be a duration greater than 0 (got "-5s")`.
 * Text given without a file gets `14:15:`, a plain object no position at all. The keys are
 * documented in the README's Configuration section.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ProbeError } from '../errors.js';
import { ConfigIssues, documentError } from './issues.js';
import { yamlLocator } from './locate.js';
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

/**
 * Parse and validate YAML config text. Throws ProbeError('PROBE_ERR_CONFIG'), each line starting
 * with the `line:col:` of the problem in `yamlText`.
 */
export function parseConfig(yamlText: string, options: LoadOptions = {}): ProbeConfig {
  return parseYaml(yamlText, options, undefined);
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
  return parseYaml(text, { ...options, baseDir: dirname(resolve(path)) }, path);
}

/** Validate a config given as a plain object (the shape the YAML parses to). */
export function normalizeConfig(raw: unknown, options: LoadOptions = {}): ProbeConfig {
  return normalize(raw, { env: options.env ?? process.env, baseDir: options.baseDir ?? process.cwd() });
}

/** `fileName`, as the user gave it, starts every error line about the text: `probe.yaml:14:15:`. */
function parseYaml(yamlText: string, options: LoadOptions, fileName: string | undefined): ProbeConfig {
  const lineCounter = new LineCounter();
  // merge: true lets a config share leg settings with `<<: *anchor`.
  const doc = parseDocument(yamlText, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true });
  const issues = new ConfigIssues({ name: fileName });
  for (const error of doc.errors) issues.syntax(lineCounter.linePos(error.pos[0]), `YAML syntax error: ${error.message}`);
  const syntaxError = issues.toError();
  if (syntaxError !== undefined) throw syntaxError;
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    throw documentError(fileName, `YAML error: ${(err as Error).message}`, err);
  }
  return normalize(raw, {
    env: options.env ?? process.env,
    baseDir: options.baseDir ?? process.cwd(),
    source: { name: fileName, locate: yamlLocator(doc, lineCounter) },
  });
}
