/**
 * Loading the t3-probe config: YAML text or file -> validated, normalized ProbeConfig. Every
 * problem is reported at once in one PROBE_ERR_CONFIG, one line per problem, for example
 * `probe.yaml:14:15: legs[2] (t3serve).deadline: must be a duration greater than 0 (got "-5s")`.
 * Text given without a file gets `14:15:`, a plain object no position at all. The keys are
 * documented in the README's Configuration section.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ProbeError } from '../errors.js';
import { ConfigIssues, documentError } from './issues.js';
import { yamlLocator } from './locate.js';
import { normalize, type CaFile, type NormalizeOptions } from './schema.js';
import type { LegOptions, ProbeConfig, TlsOptions } from './types.js';

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
const PEM_CERTIFICATE = /-----BEGIN (?:TRUSTED )?CERTIFICATE-----/;

/** Reads one tls.ca file as text; throws an errno error (ENOENT, EISDIR) when it cannot. */
export type CaReader = (path: string) => string;

const readCaFromDisk: CaReader = (path) => readFileSync(path, 'utf8');

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
  return buildConfig(raw, { env: options.env ?? process.env, baseDir: options.baseDir ?? process.cwd() });
}

/**
 * The one way every config is built, from a file, text or an object: validate it (no disk I/O),
 * then read the tls.ca files it names with `readCa` (the disk, unless the CA lives in memory, as
 * the demo's does). Any problem, of a key or of a CA file, throws one PROBE_ERR_CONFIG.
 */
export function buildConfig(raw: unknown, options: NormalizeOptions, readCa: CaReader = readCaFromDisk): ProbeConfig {
  const { config, caFiles, issues } = normalize(raw, options);
  const pems = readCaFiles(caFiles, issues, readCa);
  const error = issues.toError();
  if (error !== undefined) throw error;
  return withCa(config, pems);
}

/**
 * The PEM text of each CA file, by owner; a file that cannot be read or holds no certificate is a
 * problem of the key that names it. Each file is read once, however many keys name it.
 */
function readCaFiles(caFiles: readonly CaFile[], issues: ConfigIssues, readCa: CaReader): Map<CaFile['owner'], string> {
  const read = new Map<string, string>();
  const pems = new Map<CaFile['owner'], string>();
  for (const { owner, key, value, path } of caFiles) {
    let pem = read.get(path);
    if (pem === undefined) {
      try {
        pem = readCa(path);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        issues.invalid(key, `cannot read ${path} (${code})`, value);
        continue;
      }
      read.set(path, pem);
    }
    if (PEM_CERTIFICATE.test(pem)) pems.set(owner, pem);
    else issues.invalid(key, `${path} has no PEM certificate in it`, value);
  }
  return pems;
}

/** The config with each CA's PEM text in the tls it belongs to; the legs still share one doh. */
function withCa(config: ProbeConfig, pems: ReadonlyMap<CaFile['owner'], string>): ProbeConfig {
  if (pems.size === 0) return config;
  const addCa = (tls: TlsOptions, ca: string | undefined): TlsOptions => (ca === undefined ? tls : { ca, insecure: tls.insecure });
  const dohCa = pems.get('doh');
  const doh = config.legs.find((leg) => leg.resolve.mode === 'doh')?.resolve;
  const dohWithCa = doh?.mode === 'doh' && dohCa !== undefined ? { ...doh.doh, tls: addCa(doh.doh.tls, dohCa) } : undefined;
  const legs = config.legs.map((leg, index): LegOptions => {
    const tls = addCa(leg.tls, pems.get(index));
    const resolve = dohWithCa !== undefined && leg.resolve.mode === 'doh' ? { mode: 'doh' as const, doh: dohWithCa } : leg.resolve;
    return tls === leg.tls && resolve === leg.resolve ? leg : { ...leg, tls, resolve };
  });
  return { ...config, legs };
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
  return buildConfig(raw, {
    env: options.env ?? process.env,
    baseDir: options.baseDir ?? process.cwd(),
    source: { name: fileName, locate: yamlLocator(doc, lineCounter) },
  });
}
