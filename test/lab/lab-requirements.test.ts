/**
 * Without root the lab cannot run. Outside CI that is a loud skip with the reason; with CI=true
 * it is a failure, never a silent skip. Proven by running a real lab test file in a child
 * process that the lab's own check sees as unprivileged (T3PROBE_LAB_AS_USER=1).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const LAB_TEST = fileURLToPath(new URL('./lab-cleanup.test.ts', import.meta.url));

async function asUser(ci: boolean): Promise<{ code: number | null; output: string }> {
  // A clean environment: no NODE_TEST_CONTEXT from this runner, and CI only when asked.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', T3PROBE_LAB_AS_USER: '1', ...(ci ? { CI: 'true' } : {}) };
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', LAB_TEST], { cwd: fileURLToPath(new URL('../..', import.meta.url)), env });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output };
}

test('without root the lab skips loudly with the reason, and CI=true turns that into a failure', { timeout: 60_000 }, async () => {
  const local = await asUser(false);
  assert.equal(local.code, 0, local.output);
  assert.match(local.output, /!!! SKIPPED: .*network-namespace lab needs root/);
  assert.match(local.output, /# skipped 2/);
  const ci = await asUser(true);
  assert.notEqual(ci.code, 0);
  assert.match(ci.output, /CI=true and network-namespace lab needs root/);
  assert.match(ci.output, /# fail 2/);
});
