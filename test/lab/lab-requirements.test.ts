/**
 * Without root the lab cannot run. Outside CI that is a loud skip with the reason; with CI=true
 * it is a failure, never a silent skip. Proven by running a lab test file as user nobody.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const LAB_TEST = fileURLToPath(new URL('./lab-cleanup.test.ts', import.meta.url));

async function asNobody(ci: boolean): Promise<{ code: number | null; output: string }> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', ...(ci ? { CI: 'true' } : {}) };
  const child = spawn('runuser', ['-u', 'nobody', '--', 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, '--import', 'tsx', '--test', LAB_TEST], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output };
}

test('without root the lab skips loudly with the reason, and CI=true turns that into a failure', { timeout: 60_000 }, async (t) => {
  if (process.getuid?.() !== 0 || !existsSync('/usr/sbin/runuser')) {
    const reason = 'needs root and runuser to run a lab test as an unprivileged user';
    if (process.env.CI === 'true') throw new Error(`CI=true and this test ${reason}`);
    t.skip(reason);
    return;
  }
  const local = await asNobody(false);
  assert.equal(local.code, 0, local.output);
  assert.match(local.output, /!!! SKIPPED: .*network-namespace lab needs root/);
  assert.match(local.output, /# skipped 2/);
  const ci = await asNobody(true);
  assert.notEqual(ci.code, 0);
  assert.match(ci.output, /CI=true and network-namespace lab needs root/);
  assert.match(ci.output, /# fail 2/);
});
