/**
 * The status page as shipped: the built CLI serves page.html with page.css and page.js inlined
 * from dist/, under a CSP whose hashes are those of the inline style and script it serves, with
 * nothing external to load, and with the window and burst lengths of its own /status verdict.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { DEFAULT_BURST_MS } from '../src/attribution/verdict.js';
import { CLI } from './helpers/cli.js';
import { httpText } from './helpers/http-text.js';
import { waitFor } from './helpers/wait.js';

const SOURCE_PAGE = new URL('../src/server/page/', import.meta.url);
const BUILT_PAGE = new URL('../dist/server/page/', import.meta.url);

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** The inner text of every `<tag ...>...</tag>` in `html`, with its attributes. */
function elements(html: string, tag: string): { attrs: string; text: string }[] {
  return [...html.matchAll(new RegExp(`<${tag}([^>]*)>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => ({ attrs: m[1] ?? '', text: m[2] ?? '' }));
}

test('the built CLI serves the page with a CSP whose hashes are those of the inline script and style it serves', async (t) => {
  assert.ok(existsSync(CLI), `${CLI} is missing: run "npm run build" first`);
  // The build copies the assets as they are: what is served is what tsc and eslint checked.
  for (const name of ['page.html', 'page.css', 'page.js']) {
    assert.equal(await readFile(new URL(name, BUILT_PAGE), 'utf8'), await readFile(new URL(name, SOURCE_PAGE), 'utf8'), `dist/server/page/${name}`);
  }
  const child = spawn(process.execPath, [CLI, 'demo', '--listen', '127.0.0.1:0', '--log-level', 'warn']);
  const exit = once(child, 'exit');
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const base = await waitFor('the demo banner', () => /page: +(http:\/\/\S+)\//.exec(stderr)?.[1], { timeoutMs: 10_000 });

  const page = await httpText(`${base}/`);
  assert.equal(page.status, 200);
  assert.equal(page.headers['content-length'], String(Buffer.byteLength(page.body)));
  const csp = new Map(String(page.headers['content-security-policy']).split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1)]));
  const styles = elements(page.body, 'style');
  const scripts = elements(page.body, 'script');
  assert.equal(styles.length, 1);
  assert.deepEqual(scripts.map((s) => s.attrs), [' type="application/json" id="config"', '']);
  const [style] = styles;
  const [config, script] = scripts;
  assert.ok(style !== undefined && config !== undefined && script !== undefined);
  assert.equal(style.text, await readFile(new URL('page.css', BUILT_PAGE), 'utf8'));
  assert.equal(script.text, await readFile(new URL('page.js', BUILT_PAGE), 'utf8'));
  assert.deepEqual(csp.get('script-src'), [sha256(script.text)]);
  assert.deepEqual(csp.get('style-src'), [sha256(style.text)]);
  assert.deepEqual(csp.get('default-src'), ["'none'"]);
  assert.deepEqual(csp.get('connect-src'), ["'self'"]);
  assert.doesNotMatch(String(page.headers['content-security-policy']), /unsafe/);
  // One self-contained document: no stylesheet, script, image or font is fetched from anywhere.
  assert.deepEqual([...page.body.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]), ['data:,']);
  assert.doesNotMatch(style.text, /@import|url\(/);

  // The page labels the window and bursts with the lengths the verdict in /status uses.
  const pageConfig = JSON.parse(config.text) as { windowMs: number; burstMs: number };
  const status = JSON.parse((await httpText(`${base}/status`)).body) as { verdict: { windowMs: number } };
  assert.equal(pageConfig.windowMs, status.verdict.windowMs);
  assert.equal(pageConfig.burstMs, DEFAULT_BURST_MS);

  child.kill('SIGINT');
  assert.deepEqual(await exit, [0, null]);
});

test('every element page.js looks up by id is in page.html, once', async () => {
  const html = await readFile(new URL('page.html', SOURCE_PAGE), 'utf8');
  const script = await readFile(new URL('page.js', SOURCE_PAGE), 'utf8');
  const wanted = new Set([...script.matchAll(/\$\('([^']+)'\)/g)].map((m) => m[1]));
  assert.ok(wanted.size >= 15, `${wanted.size} ids`);
  for (const id of wanted) assert.equal(html.split(`id="${id}"`).length - 1, 1, `#${id}`);
});
