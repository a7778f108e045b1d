/**
 * Durations ("1h30m", "500ms", bare seconds) and sizes ("64KiB", "1.5KB"): whatever the text,
 * the parser answers a finite, non-negative number or undefined, never throws and never crawls;
 * what the formatter writes, the parser reads back; decimal amounts are exact.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatBytes, parseByteSize } from '../../src/config/size.js';
import { formatDurationMs, parseDurationMs } from '../../src/util/duration.js';
import { fuzzRuns, testTimeout, withinMs } from './fuzz-options.js';

const DURATION_UNITS = ['ms', 's', 'm', 'h'] as const;
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
const SIZE_UNITS = { B: 1, kB: 1_000, KB: 1_000, MB: 1_000_000, GB: 1_000_000_000, KiB: 1_024, MiB: 1_048_576, GiB: 1_073_741_824 } as const;

/** Text that looks like a duration or a size, and often nearly is: digits, dots, units, junk. */
const nearlyNumeric = fc
  .array(
    fc.oneof(
      fc.stringMatching(/^\d{1,400}$/),
      fc.constantFrom('.', ' ', '-', '+', 'e', 'E', '_', ',', 'Infinity', 'NaN', '0x', '\u0660', '\t', '\n'),
      fc.constantFrom(...DURATION_UNITS, ...Object.keys(SIZE_UNITS), 'us', 'd', 'kb', 'mib'),
      fc.string({ maxLength: 3 }),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));

const anyText = fc.oneof(nearlyNumeric, fc.string({ maxLength: 64 }), fc.string({ unit: 'binary', maxLength: 64 }));
const anyNumber = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(Number.MAX_VALUE, Number.MAX_SAFE_INTEGER, 2 ** 53, -0, 1e308));

test('parseDurationMs: any input gives undefined or a finite number of ms >= 0, at once', { timeout: testTimeout(30_000) }, () => {
  fc.assert(
    fc.property(fc.oneof(anyText, anyNumber), (input) => {
      const ms = withinMs(50, `parseDurationMs(${JSON.stringify(input)})`, () => parseDurationMs(input));
      if (ms === undefined) return;
      assert.ok(Number.isFinite(ms) && ms >= 0, `parseDurationMs(${JSON.stringify(String(input))}) = ${ms}`);
    }),
    fuzzRuns(3_000),
  );
});

test('parseDurationMs: each part is exact whatever its decimals, and a sum of parts is their sum', { timeout: testTimeout(30_000) }, () => {
  const part = fc.record({
    whole: fc.integer({ min: 0, max: 99_999 }),
    decimals: fc.stringMatching(/^\d{0,3}$/),
    unit: fc.constantFrom(...DURATION_UNITS),
  });
  fc.assert(
    fc.property(fc.array(part, { minLength: 1, maxLength: 4 }), (parts) => {
      const text = parts.map((p) => `${p.whole}${p.decimals === '' ? '' : `.${p.decimals}`}${p.unit}`).join('');
      // Exact in thousandths of a millisecond, then one division: the correctly rounded total.
      const scaled = parts.reduce((sum, p) => sum + (p.whole * 1000 + Number(p.decimals.padEnd(3, '0'))) * UNIT_MS[p.unit], 0);
      const ms = parseDurationMs(text);
      // One part: one correctly rounded division. Several: each part is, then they are added.
      if (parts.length === 1) assert.equal(ms, scaled / 1000, text);
      else assert.ok(ms !== undefined && Math.abs(ms - scaled / 1000) <= Number.EPSILON * 4 * (scaled / 1000), `${text}: ${ms}`);
    }),
    fuzzRuns(2_000),
  );
});

test('formatDurationMs then parseDurationMs: whole ms under a minute come back exactly, longer ones within the shown precision', { timeout: testTimeout(30_000) }, () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 30 * 86_400_000 }), (ms) => {
      const text = formatDurationMs(ms);
      const back = parseDurationMs(text);
      assert.notEqual(back, undefined, `${ms} -> ${text} does not parse`);
      if (ms < 60_000) assert.equal(back, ms, `${ms} -> ${text} -> ${back}`);
      // Minutes and hours are shown with 2 decimals: within half of the last digit.
      else assert.ok(Math.abs((back ?? 0) - ms) <= (ms < 3_600_000 ? 300 : 18_000), `${ms} -> ${text} -> ${back}`);
    }),
    fuzzRuns(3_000),
  );
});

test('parseByteSize: any input gives undefined or a safe whole number of bytes, at once', { timeout: testTimeout(30_000) }, () => {
  fc.assert(
    fc.property(fc.oneof(anyText, anyNumber), (input) => {
      const bytes = withinMs(50, `parseByteSize(${JSON.stringify(input)})`, () => parseByteSize(input));
      if (bytes === undefined) return;
      assert.ok(Number.isSafeInteger(bytes) && bytes >= 0, `parseByteSize(${JSON.stringify(String(input))}) = ${bytes}`);
    }),
    fuzzRuns(3_000),
  );
});

test('parseByteSize: a decimal amount is exact, and accepted exactly when it is whole bytes', { timeout: testTimeout(30_000) }, () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 999_999 }),
      fc.stringMatching(/^\d{1,4}$/),
      fc.constantFrom(...(Object.keys(SIZE_UNITS) as (keyof typeof SIZE_UNITS)[])),
      fc.constantFrom('', ' '),
      (whole, decimals, unit, space) => {
        const text = `${whole}.${decimals}${space}${unit}`;
        // BigInt arithmetic: the exact number of bytes times 10^decimals.
        const scaled = (BigInt(whole) * 10n ** BigInt(decimals.length) + BigInt(decimals)) * BigInt(SIZE_UNITS[unit]);
        const divisor = 10n ** BigInt(decimals.length);
        const exact = scaled % divisor === 0n ? Number(scaled / divisor) : undefined;
        assert.equal(parseByteSize(text), exact !== undefined && Number.isSafeInteger(exact) ? exact : undefined, text);
      },
    ),
    fuzzRuns(3_000),
  );
});

test('formatBytes then parseByteSize: every safe whole number of bytes comes back exactly', { timeout: testTimeout(30_000) }, () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.nat(), fc.maxSafeNat(), fc.integer({ min: 0, max: 2 ** 20 }).map((n) => n * 1024), fc.integer({ min: 0, max: 2 ** 22 }).map((n) => n * 1_073_741_824)),
      (bytes) => {
        fc.pre(Number.isSafeInteger(bytes));
        assert.equal(parseByteSize(formatBytes(bytes)), bytes, formatBytes(bytes));
      },
    ),
    fuzzRuns(3_000),
  );
});

test('regression: amounts the float product got wrong, and amounts too large to be finite', () => {
  // 1.001 * 1000 is 1000.9999999999999 in binary floating point, so "1.001KB" was refused.
  assert.equal(parseByteSize('1.001KB'), 1001);
  assert.equal(parseByteSize('4.1MB'), 4_100_000);
  assert.equal(parseDurationMs('1.001s'), 1001);
  // 400 digits of seconds is Infinity: it was returned as a duration (`--window` accepted it).
  assert.equal(parseDurationMs('9'.repeat(400)), undefined);
  assert.equal(parseDurationMs(`${'9'.repeat(400)}s`), undefined);
  assert.equal(parseDurationMs(1e306), undefined);
});
