/**
 * The human view of /status, served at `/`: one self-contained HTML document (inline CSS and JS,
 * no fonts, images or CDNs, because probes often run where nothing external is reachable). The
 * page itself lives in `page/` next to this module as real files, so tsc and eslint read its
 * script: page.html, with page.css and page.js inlined into it and the config block filled in.
 *
 * The files are read once, on the first server start, from the directory next to the running
 * module: src/server/page under tsx, dist/server/page once built (the build copies them). The CSP
 * carries sha256 hashes of the inline script and style, computed from those files, so not even an
 * injected inline script could run.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { VerdictKind } from '../attribution/verdict.js';

type Tone = 'ok' | 'bad' | 'warn' | 'none';

/** A Record over VerdictKind: a new verdict without a label here fails to compile. */
const VERDICT_LABELS: Readonly<Record<VerdictKind, { readonly label: string; readonly tone: Tone }>> = {
  public_dns: { label: 'Public DNS (DoH)', tone: 'bad' },
  cdn_edge_or_wan: { label: 'CDN edge, tunnel or WAN', tone: 'bad' },
  traefik_dispatch_or_host: { label: 'Traefik, dispatch or host', tone: 'bad' },
  internal_path: { label: 'Internal path', tone: 'bad' },
  serve_process: { label: 'Serve process', tone: 'bad' },
  idle_expiry: { label: 'Idle expiry (middlebox)', tone: 'warn' },
  idle_far_end: { label: 'Idle leg far end gone', tone: 'bad' },
  exonerated: { label: 'Infra exonerated', tone: 'ok' },
  probe_stalled: { label: 'The probe itself stalled', tone: 'warn' },
  no_data: { label: 'No data', tone: 'none' },
};

/** The lengths /status's verdict uses, so the page labels its window and bursts truthfully. */
export interface StatusPageOptions {
  /** The W of now ± W (clamped to now) that the verdict looks at. */
  readonly windowMs: number;
  /** Drops this close to each other are one burst. */
  readonly burstMs: number;
}

/** The config block page.js reads (its PageConfig typedef). */
export interface PageConfig extends StatusPageOptions {
  readonly pollMs: number;
  readonly maxBackoffMs: number;
  readonly requestTimeoutMs: number;
  readonly sparkSamples: number;
  readonly timelineMs: number;
  readonly minTimelineMs: number;
  readonly verdicts: typeof VERDICT_LABELS;
}

/** How the page polls: every 2 s, backing off to 10 s while the probe does not answer. */
const POLLING = {
  pollMs: 2_000,
  maxBackoffMs: 10_000,
  requestTimeoutMs: 5_000,
  sparkSamples: 60,
  /** The timeline shows this much history, or less while the probe is younger, or more to reach the oldest drop. */
  timelineMs: 10 * 60_000,
  minTimelineMs: 60_000,
} as const;

export interface StatusPage {
  readonly html: string;
  /** Only the hashed inline script and style may run; see `csp`. */
  readonly csp: string;
}

/** page.html around its config block, with the style and script already inlined. */
interface PageTemplate {
  readonly head: string;
  readonly tail: string;
  readonly csp: string;
}

const PAGE_DIR = new URL('./page/', import.meta.url);
const CONFIG_SLOT = '{{config}}';
let template: Promise<PageTemplate> | undefined;

/** The status page for a server whose /status verdict uses `options`; the files are read once. */
export async function statusPage(options: StatusPageOptions): Promise<StatusPage> {
  template ??= loadTemplate().catch((err: unknown) => {
    template = undefined; // a failed read (say, an incomplete build) is retried on the next start
    throw err;
  });
  const { head, tail, csp } = await template;
  const config: PageConfig = { ...POLLING, windowMs: options.windowMs, burstMs: options.burstMs, verdicts: VERDICT_LABELS };
  return { html: head + json(config) + tail, csp };
}

async function loadTemplate(): Promise<PageTemplate> {
  const [html, style, script] = await Promise.all([readAsset('page.html'), readAsset('page.css'), readAsset('page.js')]);
  // Text inside <style> or <script> ends at the first "</style" or "</script", whatever follows.
  if (/<\/style/i.test(style)) throw new Error('page.css must not contain "</style"');
  if (/<\/script|<!--/i.test(script)) throw new Error('page.js must not contain "</script" or "<!--"');
  const filled = fill(fill(html, '{{page.css}}', style), '{{page.js}}', script);
  const [head, tail, ...rest] = filled.split(CONFIG_SLOT);
  if (head === undefined || tail === undefined || rest.length > 0) throw new Error(`page.html must hold ${CONFIG_SLOT} exactly once`);
  return { head, tail, csp: contentSecurityPolicy(script, style) };
}

async function readAsset(name: string): Promise<string> {
  const url = new URL(name, PAGE_DIR);
  try {
    return await readFile(url, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the status page's ${name} (${fileURLToPath(url)}); the build copies src/server/page to dist/server/page`, { cause: err });
  }
}

/** Put `value` where `slot` is; split and join, because replace() would read "$&" in a script as a pattern. */
function fill(html: string, slot: string, value: string): string {
  const parts = html.split(slot);
  if (parts.length !== 2) throw new Error(`page.html must hold ${slot} exactly once`);
  return parts.join(value);
}

function json(value: unknown): string {
  // Inside <script>, "</script" or "<!--" would end or confuse the element; \u003c cannot.
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/**
 * Only the hashed inline script and style may run; data goes to this origin only; the data: icon
 * keeps the browser from asking for /favicon.ico. The JSON config block is data, not script.
 */
function contentSecurityPolicy(script: string, style: string): string {
  return [
    "default-src 'none'",
    `script-src ${sha256(script)}`,
    `style-src ${sha256(style)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
