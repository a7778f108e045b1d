/**
 * The layer rules of ARCHITECTURE.md, checked by dependency-cruiser (.dependency-cruiser.cjs):
 * no import cycle anywhere in src/, and no module importing a layer above its own. The rules are
 * also run against a small tree with a cycle and an upward import, to prove they can fail.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEPCRUISE = path.join(ROOT, 'node_modules', '.bin', 'depcruise');
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');

async function cruise(cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(DEPCRUISE, ['src', '--config', CONFIG, '--output-type', 'err'], { cwd });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

test('src/ has no import cycle and no upward import', { timeout: 60_000 }, async () => {
  const { code, output } = await cruise(ROOT);
  assert.equal(code, 0, output);
  assert.match(output, /no dependency violations found \(\d+ modules/);
});

test('the rules catch a cycle, an upward import, a folder without a layer, and idle-check importing legs', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 't3-arch-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const files: Record<string, string> = {
    'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true } }),
    'src/legs/a.ts': "import { b } from './b.js';\nexport const a = (): number => b() + 1;\n",
    'src/legs/b.ts': "import { a } from './a.js';\nexport const b = (): number => (a === undefined ? 0 : 1);\n",
    'src/util/clock.ts': "import { c } from '../cli/c.js';\nexport const now = (): number => c;\n",
    'src/cli/c.ts': 'export const c = 1;\n',
    'src/fleet/x.ts': "import { now } from '../util/clock.js';\nexport const x = now();\n",
    'src/idle-check/y.ts': "import { a } from '../legs/a.js';\nexport const y = a();\n",
  };
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  const { code, output } = await cruise(dir);
  assert.notEqual(code, 0, output);
  assert.match(output, /no-circular: src\/legs\/[ab]\.ts →\s+src\/legs\/[ab]\.ts/);
  assert.match(output, /no-upward-from-vocabulary: src\/util\/clock\.ts →\s+src\/cli\/c\.ts/);
  assert.match(output, /every-module-in-a-layer: src\/fleet\/x\.ts/);
  assert.match(output, /legs-and-idle-check-apart: src\/idle-check\/y\.ts →\s+src\/legs\/a\.ts/);
});
