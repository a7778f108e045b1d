/**
 * The GitHub workflows, checked offline: each validates against GitHub's workflow schema
 * (SchemaStore's, bundled in @action-validator/core), a typo in one is caught, they wire the
 * release together as documented, and the shell steps that gate a release run for real here.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { validateWorkflow, type ValidationError } from '@action-validator/core';
import { parse as parseYaml } from 'yaml';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKFLOWS = path.join(ROOT, '.github', 'workflows');
const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, string | number | boolean>;
  env?: Record<string, string>;
}
interface Job {
  'runs-on'?: string;
  uses?: string;
  needs?: string | string[];
  permissions?: Record<string, string>;
  container?: { image: string; options?: string };
  steps?: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

const text = {
  ci: await readFile(path.join(WORKFLOWS, 'ci.yml'), 'utf8'),
  release: await readFile(path.join(WORKFLOWS, 'release.yml'), 'utf8'),
};
const ci = parseYaml(text.ci) as Workflow;
const release = parseYaml(text.release) as Workflow;

/** The schema errors, flattened to "path: detail" lines (a oneOf error nests the real ones). */
function schemaErrors(source: string): string[] {
  const flat = (errors: readonly ValidationError[]): string[] =>
    errors.flatMap((e) => {
      const nested = 'states' in e && e.states !== undefined ? e.states.flatMap((s) => flat(s.errors)) : [];
      const where = 'location' in e && e.location !== undefined ? `line ${e.location.line}` : 'path' in e ? e.path : '';
      return [`${where}: ${e.detail ?? e.title}`, ...nested];
    });
  return flat(validateWorkflow(source).errors);
}

function job(workflow: Workflow, name: string): Job {
  const found = workflow.jobs[name];
  assert.ok(found, `job ${name}`);
  return found;
}

function step(j: Job, match: (s: Step) => boolean, what: string): Step {
  const found = j.steps?.find(match);
  assert.ok(found, what);
  return found;
}

function needs(j: Job): string[] {
  return j.needs === undefined ? [] : [j.needs].flat();
}

test('both workflows validate against the GitHub workflow schema', () => {
  for (const [name, source] of Object.entries(text)) assert.deepEqual(schemaErrors(source), [], `${name}.yml`);
});

test('a broken workflow fails the schema: a misspelled key, a bad trigger, a bad permission', () => {
  const cases: [string, string, string, RegExp][] = [
    ['runs-on misspelled', 'runs-on: ubuntu-24.04', 'runs_on: ubuntu-24.04', /Additional property 'runs_on' is not allowed/],
    ['an unknown event under on:', '  pull_request:\n', '  pull_requests:\n', /^\/on: Additional property 'pull_requests' is not allowed/m],
    ['on: a number', 'on:\n  push:\n    branches: [main]\n  pull_request:\n  workflow_call:\n', 'on: 5\n', /^\/on: /m],
    ['a permission level that does not exist', 'contents: read', 'contents: readonly', /^\/permissions/m],
  ];
  for (const [what, from, to, error] of cases) {
    assert.ok(text.ci.includes(from), `ci.yml holds ${JSON.stringify(from)}`);
    const errors = schemaErrors(text.ci.replace(from, to));
    assert.ok(errors.length > 0, `${what}: no schema error`);
    assert.match(errors.join('\n'), error, what);
  }
  assert.match(schemaErrors('jobs: [\n').join('\n'), /line \d+: /, 'YAML that does not parse');
});

test('every action is pinned to a major version or a commit, never a branch', () => {
  const uses = [ci, release].flatMap((w) => Object.values(w.jobs).flatMap((j) => (j.steps ?? []).flatMap((s) => (s.uses === undefined ? [] : [s.uses]))));
  assert.ok(uses.length >= 10, `found ${uses.length} actions`);
  for (const action of uses) assert.match(action, /^[\w.-]+\/[\w.-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/, action);
});

test('ci runs .ci/run on pushes to main and on pull requests, as root, and release reuses it', () => {
  assert.deepEqual(Object.keys(ci.on).sort(), ['pull_request', 'push', 'workflow_call']);
  assert.deepEqual(ci.on.push, { branches: ['main'] });
  const test = job(ci, 'test');
  // Debian, because the suite installs Debian packages; privileged, because the labs need root.
  assert.match(test.container?.image ?? '', /^debian:/);
  assert.match(test.container?.options ?? '', /--privileged/);
  const node = step(test, (s) => s.uses?.startsWith('actions/setup-node@') ?? false, 'setup-node');
  assert.ok(Number(node.with?.['node-version']) >= 20, 'a Node the package supports');
  assert.equal(test.steps?.at(-1)?.run, 'bash .ci/run', 'the last step is .ci/run');
  assert.deepEqual(job(release, 'test'), { needs: 'version', permissions: { contents: 'read' }, uses: './.github/workflows/ci.yml' });
});

test('release: on a v* tag; the image and npm jobs wait for the tag check and the suite', () => {
  assert.deepEqual(release.on, { push: { tags: ['v*'] } });
  assert.deepEqual(release.permissions, {}, 'no job gets a permission it does not ask for');
  for (const name of ['image', 'npm']) assert.deepEqual(needs(job(release, name)).sort(), ['test', 'version'], name);

  const image = job(release, 'image');
  assert.equal(image.permissions?.packages, 'write');
  for (const action of ['docker/setup-qemu-action@', 'docker/setup-buildx-action@']) step(image, (s) => s.uses?.startsWith(action) ?? false, action);
  const login = step(image, (s) => s.uses?.startsWith('docker/login-action@') ?? false, 'login-action');
  assert.deepEqual(login.with, { registry: 'ghcr.io', username: '${{ github.actor }}', password: '${{ secrets.GITHUB_TOKEN }}' });
  const build = step(image, (s) => s.uses?.startsWith('docker/build-push-action@') ?? false, 'build-push-action');
  assert.equal(build.with?.platforms, 'linux/amd64,linux/arm64');
  assert.equal(build.with?.push, true);
  assert.equal(build.with?.tags, '${{ steps.tags.outputs.tags }}');

  const npm = job(release, 'npm');
  assert.equal(npm.permissions?.['id-token'], 'write', 'provenance needs the OIDC token');
  const node = step(npm, (s) => s.uses?.startsWith('actions/setup-node@') ?? false, 'setup-node');
  assert.equal(node.with?.['registry-url'], 'https://registry.npmjs.org');
  const steps = npm.steps ?? [];
  const publish = steps.findIndex((s) => s.run?.startsWith('npm publish ') ?? false);
  assert.ok(publish >= 0, 'an npm publish step');
  assert.match(steps[publish]?.run ?? '', /^npm publish --provenance --access public --tag "\$CHANNEL"$/);
  assert.equal(steps[publish]?.env?.NODE_AUTH_TOKEN, '${{ secrets.NPM_TOKEN }}');
  // Built, and pointed at this repository, before it is published.
  for (const before of ['npm run build', 'npm pkg set ']) {
    const at = steps.findIndex((s) => s.run?.includes(before) ?? false);
    assert.ok(at >= 0 && at < publish, `"${before}" runs before npm publish`);
  }
});

/** Run a workflow step's script as the runner does (bash -eo pipefail) and read what it output. */
async function runStep(t: TestContext, s: Step, env: Record<string, string>, files: Record<string, string> = {}) {
  assert.ok(s.run !== undefined && !s.run.includes('${{'), 'the script takes its inputs from env, not from ${{ }} expressions');
  const dir = await mkdtemp(path.join(os.tmpdir(), 't3-workflow-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content);
  const output = path.join(dir, 'github-output');
  await writeFile(output, '');
  const script = path.join(dir, 'step.sh');
  await writeFile(script, s.run);
  const pathEnv = `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`;
  const result = await run('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], {
    cwd: dir,
    env: { PATH: pathEnv, HOME: process.env.HOME ?? dir, GITHUB_OUTPUT: output, ...env },
  }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
  );
  return { ...result, dir, outputs: parseOutputs(await readFile(output, 'utf8')) };
}

/** $GITHUB_OUTPUT: name=value lines, and name<<DELIMITER ... DELIMITER blocks. */
function parseOutputs(file: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = file.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const block = /^([\w-]+)<<(\S+)$/.exec(line);
    if (block) {
      const end = lines.indexOf(block[2] ?? '', i + 1);
      outputs[block[1] ?? ''] = lines.slice(i + 1, end).join('\n');
      i = end;
    } else if (line.includes('=')) {
      outputs[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return outputs;
}

test('the release gate: a tag that is not v + package.json version stops the release', async (t) => {
  const check = step(job(release, 'version'), (s) => s.id === 'version', 'the version step');
  const manifest = (version: string) => ({ 'package.json': JSON.stringify({ name: 't3-probe', version }) });

  const ok = await runStep(t, check, { GITHUB_REF_NAME: `v${pkg.version}` }, manifest(pkg.version));
  assert.equal(ok.code, 0, ok.stdout);
  assert.deepEqual(ok.outputs, { version: pkg.version, channel: 'latest' });

  for (const prerelease of ['1.0.0-rc.1', '1.0.0-beta.2']) {
    const rc = await runStep(t, check, { GITHUB_REF_NAME: `v${prerelease}` }, manifest(prerelease));
    assert.deepEqual(rc.outputs, { version: prerelease, channel: 'next' }, 'a prerelease is never latest');
  }

  for (const tag of ['v9.9.9', pkg.version, `v${pkg.version}-rc.1`]) {
    const bad = await runStep(t, check, { GITHUB_REF_NAME: tag }, manifest(pkg.version));
    assert.equal(bad.code, 1, tag);
    assert.match(bad.stdout, new RegExp(`^::error::the tag ${tag.replace(/\./g, '\\.')} is not v`, 'm'));
    assert.deepEqual(bad.outputs, {}, `${tag}: no version for the jobs that publish`);
  }
});

test('the image is ghcr.io/<owner, lower-cased>/t3-probe:<version>, plus :latest for a release', async (t) => {
  const tags = step(job(release, 'image'), (s) => s.id === 'tags', 'the tags step');
  assert.deepEqual(tags.env, { VERSION: '${{ needs.version.outputs.version }}', CHANNEL: '${{ needs.version.outputs.channel }}' });
  const stable = await runStep(t, tags, { GITHUB_REPOSITORY_OWNER: 'T3-Org', VERSION: '0.2.0', CHANNEL: 'latest' });
  assert.deepEqual(stable.outputs, { tags: 'ghcr.io/t3-org/t3-probe:0.2.0\nghcr.io/t3-org/t3-probe:latest' });
  const rc = await runStep(t, tags, { GITHUB_REPOSITORY_OWNER: 'T3-Org', VERSION: '0.2.0-rc.1', CHANNEL: 'next' });
  assert.deepEqual(rc.outputs, { tags: 'ghcr.io/t3-org/t3-probe:0.2.0-rc.1' });
});

test('before publishing, package.json points at the repository the workflow runs in (provenance checks it)', async (t) => {
  const setRepository = step(job(release, 'npm'), (s) => s.id === 'repository', 'the repository step');
  const result = await runStep(t, setRepository, { GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'T3-Org/t3-probe' }, {
    'package.json': JSON.stringify({ name: 't3-probe', version: pkg.version }),
  });
  assert.equal(result.code, 0, result.stdout);
  const written = JSON.parse(await readFile(path.join(result.dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(
    { repository: written.repository, homepage: written.homepage, bugs: written.bugs },
    {
      repository: { type: 'git', url: 'git+https://github.com/T3-Org/t3-probe.git' },
      homepage: 'https://github.com/T3-Org/t3-probe#readme',
      bugs: { url: 'https://github.com/T3-Org/t3-probe/issues' },
    },
  );
});
