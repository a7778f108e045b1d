/**
 * Tests that drive real system software (Prometheus, blackbox_exporter, ...) need it installed.
 * `npm test` installs it when run as root. Otherwise: a loud skip with the reason, except on CI
 * (CI=true), where a missing tool is a failure, never a silent skip.
 */
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';

export function requireBinary(t: TestContext, file: string, debianPackage: string): boolean {
  if (existsSync(file)) return true;
  const reason = `${file} is missing: install the Debian package "${debianPackage}" (npm test does this when run as root)`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  process.stderr.write(`\n!!! SKIPPED: ${t.name}: ${reason}\n`);
  t.skip(reason);
  return false;
}
