import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { waitFor } from '../helpers/wait.js';
import { requireLab } from './netns.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/lab-then-die.ts', import.meta.url));

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

for (const how of ['signal', 'throw'] as const) {
  test(`a lab is torn down when its process is interrupted (${how})`, { timeout: 30_000 }, async (t) => {
    if (!requireLab(t)) return;
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, how], { stdio: ['pipe', 'pipe', 'pipe'] });
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    const created = await waitFor('the fixture to build its lab', () => (out.includes('\n') ? (JSON.parse(out) as string[]) : undefined), {
      timeoutMs: 15_000,
    });
    assert.ok(created.every((ns) => namespaces().includes(ns)));
    child.stdin.write('go\n');
    if (how === 'signal') child.kill('SIGTERM');
    await once(child, 'exit');
    const left = namespaces().filter((ns) => created.includes(ns));
    assert.deepEqual(left, [], 'every namespace of the lab is gone');
  });
}
