/**
 * The Dockerfile without a container engine: what it copies exists, .dockerignore keeps the
 * context small, and the production dependencies alone (npm ci --omit=dev, exactly as the image
 * does) run the CLI. test/deploy/image.test.ts builds and runs the image itself with podman; here,
 * that its skip without root is loud and that CI=true turns it into a failure.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dockerfile = await readFile(path.join(ROOT, 'Dockerfile'), 'utf8');
const dockerignore = (await readFile(path.join(ROOT, '.dockerignore'), 'utf8')).split('\n').filter((l) => l && !l.startsWith('#'));

test('the Dockerfile is multi-stage on a Node LTS slim image, non-root, with tini as PID 1', () => {
  const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  assert.ok(froms.length >= 2, 'multi-stage');
  assert.match(dockerfile, /^ARG NODE_IMAGE=node:24-trixie-slim$/m);
  assert.match(dockerfile, /npm ci --omit=dev/);
  assert.match(dockerfile, /^USER 10001:10001$/m, 'numeric non-root user');
  assert.match(dockerfile, /^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", "--max-semi-space-size=32", "--heap-growing-percent=30", "\/app\/dist\/cli\.js"\]$/m);
  assert.match(dockerfile, /^EXPOSE 9464 8080 9000$/m);
});

test('everything the Dockerfile copies from the context exists, and .dockerignore does not hide it', () => {
  const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => (m[1] ?? '').split(/\s+/));
  assert.deepEqual([...new Set(sources)].sort(), ['package-lock.json', 'package.json', 'src', 'tsconfig.build.json', 'tsconfig.json']);
  for (const source of sources) {
    assert.ok(existsSync(path.join(ROOT, source)), `${source} exists`);
    assert.ok(!dockerignore.includes(source), `${source} is not ignored`);
  }
  for (const heavy of ['node_modules', '.git', 'dist', 'artifacts', 'test']) assert.ok(dockerignore.includes(heavy), `${heavy} is ignored`);
});

test('what the image runs exists after the build: dist/cli.js and the files it imports', async () => {
  // npm test builds first; `node --check` proves the entry point parses as shipped.
  const entry = path.join(ROOT, 'dist', 'cli.js');
  assert.ok(existsSync(entry), 'dist/cli.js (run "npm run build")');
  await run(process.execPath, ['--check', entry]);
  assert.equal(JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')).bin['t3-probe'], './dist/cli.js');
});

test('the production dependencies alone run every command, as in the image', { timeout: 180_000 }, async (t) => {
  const app = await mkdtemp(path.join(os.tmpdir(), 't3-image-'));
  t.after(() => rm(app, { recursive: true, force: true }));
  for (const item of ['package.json', 'package-lock.json', 'dist']) await cp(path.join(ROOT, item), path.join(app, item), { recursive: true });
  // The same command as the image's deps stage (the registry is reachable; the cache makes it fast).
  await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, env: { ...process.env, NODE_ENV: 'production' } });
  for (const dev of ['typescript', 'tsx', 'eslint', 'playwright-core']) assert.ok(!existsSync(path.join(app, 'node_modules', dev)), `${dev} is not shipped`);
  const cli = path.join(app, 'dist', 'cli.js');
  const version = await run(process.execPath, [cli, '--version'], { cwd: app });
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  for (const command of ['run', 'echo', 'demo', 'idle-check', 'attribute']) {
    const help = await run(process.execPath, [cli, command, '--help'], { cwd: app });
    assert.match(help.stdout, /Usage:/, command);
  }
  const check = await run(process.execPath, [cli, 'run', '--config', path.join(ROOT, 'examples', 'probe.yaml'), '--check'], { cwd: app });
  assert.match(check.stdout, /config ok: 4 legs/);
});

test('without root the image tests skip loudly with the reason, and CI=true turns that into a failure', { timeout: 60_000 }, async () => {
  const asUser = async (ci: boolean): Promise<{ code: number | null; output: string }> => {
    // A clean environment: no NODE_TEST_CONTEXT from this runner, and CI only when asked.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', T3PROBE_IMAGE_AS_USER: '1', ...(ci ? { CI: 'true' } : {}) };
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', path.join(ROOT, 'test', 'deploy', 'image.test.ts')], { cwd: ROOT, env });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, output };
  };
  const local = await asUser(false);
  assert.equal(local.code, 0, local.output);
  assert.match(local.output, /!!! SKIPPED: .*building the container image needs root/);
  assert.match(local.output, /# skipped 3/);
  const ci = await asUser(true);
  assert.notEqual(ci.code, 0);
  assert.match(ci.output, /CI=true and building the container image needs root/);
  assert.match(ci.output, /# fail 3/);
});
