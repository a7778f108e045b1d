/**
 * `t3-probe run` and a library user load only what they use: not the demo's node-forge (1.8 MB)
 * and DoH responder. Proved on the built package, as shipped: a module.register resolve hook in
 * the child process records every module URL that gets imported, static or dynamic.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = path.join(ROOT, 'dist', 'cli.js');

/** Runs in the loader-hooks thread: append each resolved URL to the file named in `data`. */
const HOOKS = `
import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(file, result.url + '\\n');
  return result;
}`;
const REGISTER = `
import { register } from 'node:module';
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)}, { data: { file: process.env.T3_IMPORTS_FILE } });`;

/** The URL of a file of this package: `dist/demo/` gives the prefix of every demo module. */
function own(file: string): string {
  return pathToFileURL(path.join(ROOT, file)).href;
}
const FORGE = '/node_modules/node-forge/';
const DEMO = own('dist/demo/');

interface Traced {
  readonly stdout: string;
  /** Every module URL resolved, each once, in the order first resolved. */
  readonly imports: readonly string[];
}

/** Run node with `args` in the package root, recording what it imports. */
async function traced(t: TestContext, args: readonly string[]): Promise<Traced> {
  assert.ok(existsSync(CLI), `${CLI} is missing: run "npm run build" first`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 't3-imports-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'imports.txt');
  const { stdout } = await execFileAsync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, ...args], {
    cwd: ROOT,
    env: { ...process.env, T3_IMPORTS_FILE: file },
  });
  // One line per import statement: a module imported from two places is listed twice.
  const imports = [...new Set((await readFile(file, 'utf8')).split('\n').filter(Boolean))];
  return { stdout, imports };
}

function loaded(imports: readonly string[], part: string): string[] {
  return imports.filter((url) => url.includes(part));
}

test('run --check loads neither node-forge nor the demo', async (t) => {
  const { stdout, imports } = await traced(t, [CLI, 'run', '--config', path.join(ROOT, 'examples', 'probe.yaml'), '--check']);
  assert.match(stdout, /^config ok: 4 legs/);
  // The hook does see the command, which cli.ts imports on demand.
  assert.ok(imports.includes(own('dist/cli/run.js')), imports.join('\n'));
  assert.deepEqual(loaded(imports, FORGE), []);
  assert.deepEqual(loaded(imports, DEMO), []);
});

test('the package entry loads neither node-forge nor the demo; t3-probe/demo does', async (t) => {
  const entry = await traced(t, ['--input-type=module', '-e', `const m = await import('t3-probe'); console.log(typeof m.Probe, typeof m.startDemo);`]);
  assert.equal(entry.stdout, 'function undefined\n');
  assert.ok(entry.imports.includes(own('dist/index.js')), entry.imports.join('\n'));
  assert.deepEqual(loaded(entry.imports, FORGE), []);
  assert.deepEqual(loaded(entry.imports, DEMO), []);

  // The control: the same hook sees both when the demo is what is asked for.
  const demo = await traced(t, ['--input-type=module', '-e', `const m = await import('t3-probe/demo'); console.log(typeof m.startDemo);`]);
  assert.equal(demo.stdout, 'function\n');
  assert.ok(loaded(demo.imports, FORGE).length > 0, demo.imports.join('\n'));
  assert.ok(demo.imports.includes(own('dist/demo/doh-responder.js')), demo.imports.join('\n'));
});
