/**
 * The Kubernetes manifests (k8s/): every kustomization renders with the real kubectl, without a
 * warning, and every rendered object validates offline against the real schemas of
 * kubernetes-models (core kinds), @kubernetes-models/prometheus-operator (ServiceMonitor,
 * PrometheusRule) and @kubernetes-models/traefik (IngressRoute, generated from Traefik's CRD
 * types). The schemas' validate() does not reject unknown keys, so each object also goes through
 * a strict check that finds keys no schema types: a typo in any field fails. Then the
 * requirements the manifests exist for: a locked-down probe pod sized from our measurements, a
 * metrics port the ServiceMonitor scrapes as job="t3-probe", the label kube-prometheus-stack
 * selects on, the same alert rules as deploy/prometheus, routes from the public host to the echo,
 * a NetworkPolicy whose egress follows the config, and a ConfigMap the real config loader accepts.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import test from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import type { IPrometheusRule, IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { IngressRoute } from '@kubernetes-models/traefik/traefik.io/v1alpha1';
import type { IIngressRoute } from '@kubernetes-models/traefik/traefik.io/v1alpha1';
import { Deployment } from 'kubernetes-models/apps/v1';
import type { IDeployment } from 'kubernetes-models/apps/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { IIngress, INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import type { IConfigMap, IContainer, IPodSpec, IService } from 'kubernetes-models/v1';
import { parseConfig } from '../../src/config/load.js';
import { findPlaceholders } from '../../src/config/placeholders.js';
import { requireBinary } from '../helpers/system.js';

const KUBECTL = '/usr/bin/kubectl';
/**
 * Debian's package for kubectl. Debian has no package named "kubectl"; the one on this machine
 * image comes from Google's repo (1.32, kustomize v5.5). Debian bookworm's is 1.20, whose
 * kustomize (v2.0.3) is too old for k8s/: see MIN_KUSTOMIZE_MAJOR.
 */
const KUBECTL_PACKAGE = 'kubernetes-client';
/**
 * The kustomizations list directories under `resources:`, where current kustomize wants them
 * (it warns that `bases:` is deprecated), and use `patches:` with a target. kustomize before v2.1
 * (kubectl 1.20 and older) takes directories only under bases, so an older kubectl fails here
 * with the reason, not with a puzzling render error.
 */
const MIN_KUSTOMIZE_MAJOR = 4;
/** Kustomization fields that current kustomize deprecates (it warns on stderr, or will). */
const DEPRECATED_KUSTOMIZATION_KEYS = ['bases', 'commonLabels', 'patchesStrategicMerge', 'patchesJson6902', 'vars', 'imageTags'];
const SCRIPT = join(new URL('../../', import.meta.url).pathname, 'scripts/networkpolicy-from-config.mjs');
const ROOT = new URL('../../', import.meta.url).pathname;
const K8S = join(ROOT, 'k8s');
const NAMESPACE = 't3-probe';

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

type ModelClass = new (data: never) => { validate(): void };

/** Every kind the manifests may contain. Anything else fails: it could not be validated. */
const MODELS: ReadonlyMap<string, ModelClass> = new Map<string, ModelClass>([
  ['v1/Namespace', Namespace],
  ['v1/ConfigMap', ConfigMap],
  ['v1/Service', Service],
  ['apps/v1/Deployment', Deployment],
  ['networking.k8s.io/v1/NetworkPolicy', NetworkPolicy],
  ['networking.k8s.io/v1/Ingress', Ingress],
  ['traefik.io/v1alpha1/IngressRoute', IngressRoute],
  ['policy/v1/PodDisruptionBudget', PodDisruptionBudget],
  ['monitoring.coreos.com/v1/ServiceMonitor', ServiceMonitor],
  ['monitoring.coreos.com/v1/PrometheusRule', PrometheusRule],
]);

const EVERYTHING = [
  'ConfigMap/t3-probe-config',
  'Deployment/t3-probe',
  'Deployment/t3-probe-echo',
  'Namespace/t3-probe',
  'NetworkPolicy/t3-probe',
  'PodDisruptionBudget/t3-probe-echo',
  'PrometheusRule/t3-probe',
  'Service/t3-probe',
  'Service/t3-probe-echo',
  'ServiceMonitor/t3-probe',
];

/**
 * What each kustomization renders, sorted as `kind/name` (the ConfigMap's hash suffix cut off).
 * Every directory of k8s/ with a kustomization.yaml must be here (a test checks).
 */
const EXPECTED: Readonly<Record<string, readonly string[]>> = {
  probe: ['ConfigMap/t3-probe-config', 'Deployment/t3-probe', 'NetworkPolicy/t3-probe', 'Service/t3-probe'],
  monitoring: ['PrometheusRule/t3-probe', 'ServiceMonitor/t3-probe'],
  echo: ['Deployment/t3-probe-echo', 'PodDisruptionBudget/t3-probe-echo', 'Service/t3-probe-echo'],
  example: EVERYTHING,
  'overlays/kube-prometheus-stack': EVERYTHING,
  'routing/ingress': ['Ingress/t3-probe-echo'],
  'routing/traefik': ['IngressRoute/t3-probe-echo'],
};
/** The kustomizations that install everything into the namespace t3-probe. */
const INSTALLS_ALL = ['example', 'overlays/kube-prometheus-stack'];

let kustomizeChecked = false;

/** Fails, with the reason, when the kubectl at KUBECTL has a kustomize older than MIN_KUSTOMIZE_MAJOR. */
function assertKustomizeVersion(): void {
  if (kustomizeChecked) return;
  const { kustomizeVersion } = JSON.parse(execFileSync(KUBECTL, ['version', '--client', '-o', 'json'], { encoding: 'utf8' })) as { kustomizeVersion?: string };
  const major = Number(/^v(\d+)\./.exec(kustomizeVersion ?? '')?.[1] ?? 0);
  assert.ok(
    major >= MIN_KUSTOMIZE_MAJOR,
    kustomizeVersion === undefined
      ? `${KUBECTL} reports no kustomize version, so it is kubectl 1.23 or older (Debian bookworm's kubernetes-client is 1.20, whose kustomize v2.0.3 cannot render k8s/): this test needs kubectl 1.24 or later`
      : `${KUBECTL} has kustomize ${kustomizeVersion}: k8s/ needs kustomize v${MIN_KUSTOMIZE_MAJOR} or later`,
  );
  kustomizeChecked = true;
}

/** `kubectl kustomize <dir>` (an absolute dir, or one relative to k8s/): its objects; a warning fails. */
function render(dir: string): KubeObject[] {
  assertKustomizeVersion();
  const path = dir.startsWith('/') ? dir : join(K8S, dir);
  const result = spawnSync(KUBECTL, ['kustomize', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(result.status, 0, `kubectl kustomize ${dir} failed: ${result.stderr}`);
  // Current kustomize prints deprecations (bases, commonLabels, ...) on stderr: none allowed.
  assert.equal(result.stderr, '', `kubectl kustomize ${dir} printed on stderr`);
  const out = result.stdout;
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(out)) {
    assert.deepEqual(doc.errors, [], `kubectl kustomize k8s/${dir} printed invalid YAML`);
    const value: unknown = doc.toJS();
    if (value === null) continue;
    assert.ok(isRecord(value) && typeof value.apiVersion === 'string' && typeof value.kind === 'string', `k8s/${dir}: not an object with apiVersion and kind`);
    objects.push(value as KubeObject);
  }
  return objects;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function modelFor(obj: KubeObject): ModelClass {
  const model = MODELS.get(`${obj.apiVersion}/${obj.kind}`);
  if (model === undefined) assert.fail(`${obj.apiVersion} ${obj.kind} ${obj.metadata.name}: no schema for this kind, so it can't be validated`);
  return model;
}

function validate(obj: unknown): void {
  const Model = modelFor(obj as KubeObject);
  new Model(obj as never).validate();
}

/**
 * A value that no typed schema accepts: not a string, number, boolean or object, and an array
 * whose items are arrays (Kubernetes has no list of lists).
 */
const NOT_ANY_TYPE = [[[]]];

/**
 * Keys that no schema types. The models' validate() ignores unknown keys, so this probes each key
 * in turn: its value is replaced by NOT_ANY_TYPE, and if the object still validates, no schema
 * looks at that key, which means it is a typo (or an untyped escape hatch, which these manifests
 * don't use). Keys under an unknown key are not reported again.
 */
function unknownKeys(obj: KubeObject): string[] {
  const unknown: string[] = [];
  const walk = (value: unknown, path: (string | number)[]): void => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, [...path, i]));
      return;
    }
    if (!isRecord(value)) return;
    for (const [key, child] of Object.entries(value)) {
      const keyPath = [...path, key];
      const probe = structuredClone(obj);
      setAt(probe, keyPath, NOT_ANY_TYPE);
      let accepted = true;
      try {
        validate(probe);
      } catch {
        accepted = false;
      }
      if (accepted) unknown.push(keyPath.join('.'));
      else walk(child, keyPath);
    }
  };
  walk(obj, []);
  return unknown;
}

function setAt(root: unknown, path: readonly (string | number)[], value: unknown): void {
  getAt(root, path.slice(0, -1))[path.at(-1)!] = value;
}

function getAt(root: unknown, path: readonly (string | number)[]): Record<string | number, unknown> {
  let node = root as Record<string | number, unknown>;
  for (const key of path) node = node[key] as Record<string | number, unknown>;
  assert.ok(isRecord(node) || Array.isArray(node), `nothing at ${path.join('.')}`);
  return node;
}

/** A copy of obj with the key `from` of the mapping at path renamed to `to` (a typo). */
function renamed(obj: KubeObject, path: readonly (string | number)[], from: string, to: string): KubeObject {
  const copy = structuredClone(obj);
  const parent = getAt(copy, path);
  assert.ok(from in parent, `${path.join('.')}.${from} exists`);
  parent[to] = parent[from];
  delete parent[from];
  return copy;
}

/** A copy of obj with the value at path replaced. */
function withValue(obj: KubeObject, path: readonly (string | number)[], value: unknown): KubeObject {
  const copy = structuredClone(obj);
  setAt(copy, path, value);
  return copy;
}

/** validate() plus the unknown-key check, with the object named in the failure. */
function assertValid(obj: KubeObject, where: string): void {
  const name = `${where}: ${obj.kind}/${obj.metadata.name}`;
  try {
    validate(obj);
  } catch (err) {
    assert.fail(`${name} does not match its schema: ${(err as Error).message}`);
  }
  assert.deepEqual(unknownKeys(obj), [], `${name} has keys its schema does not know (typos?)`);
}

function find<T>(objects: readonly KubeObject[], kind: string, name: string): T {
  const found = objects.filter((o) => o.kind === kind && (o.metadata.name === name || (kind === 'ConfigMap' && o.metadata.name.startsWith(`${name}-`))));
  assert.equal(found.length, 1, `expected one ${kind}/${name}, found ${found.length}`);
  return found[0] as T;
}

function describeKinds(objects: readonly KubeObject[]): string[] {
  return objects.map((o) => `${o.kind}/${o.kind === 'ConfigMap' ? o.metadata.name.replace(/-[a-z0-9]{10}$/, '') : o.metadata.name}`).sort();
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (selector === undefined || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** The policy's egress ports as `TCP/443`, sorted; every rule must leave `to` open. */
function egressPorts(policy: INetworkPolicy): string[] {
  const egress = policy.spec?.egress ?? [];
  for (const rule of egress) assert.equal(rule.to, undefined, 'egress is not narrowed to addresses');
  return egress.flatMap((rule) => (rule.ports ?? []).map((p) => `${p.protocol}/${p.port}`)).sort();
}

function podSpec(deployment: IDeployment): IPodSpec {
  const spec = deployment.spec?.template.spec;
  assert.ok(spec, `${deployment.metadata?.name}: no pod spec`);
  return spec;
}

function onlyContainer(deployment: IDeployment): IContainer {
  const { containers } = podSpec(deployment);
  assert.equal(containers.length, 1, `${deployment.metadata?.name}: one container`);
  return containers[0]!;
}

/** The pod's security posture as the kubelet applies it: container settings win over the pod's. */
function assertLockedDown(deployment: IDeployment): void {
  const name = deployment.metadata?.name ?? '?';
  const pod = podSpec(deployment);
  const container = onlyContainer(deployment);
  const podSc = pod.securityContext ?? {};
  const sc = container.securityContext ?? {};
  assert.equal(sc.runAsNonRoot ?? podSc.runAsNonRoot, true, `${name}: runAsNonRoot`);
  const uid = sc.runAsUser ?? podSc.runAsUser;
  assert.equal(uid, 10001, `${name}: runs as uid 10001`);
  assert.equal(sc.runAsGroup ?? podSc.runAsGroup, 10001, `${name}: runs as gid 10001`);
  assert.equal(podSc.fsGroup, 10001, `${name}: fsGroup`);
  assert.equal((sc.seccompProfile ?? podSc.seccompProfile)?.type, 'RuntimeDefault', `${name}: seccomp RuntimeDefault`);
  assert.equal(sc.readOnlyRootFilesystem, true, `${name}: readOnlyRootFilesystem`);
  assert.equal(sc.allowPrivilegeEscalation, false, `${name}: allowPrivilegeEscalation false`);
  assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${name}: drops ALL capabilities`);
  assert.equal(sc.capabilities?.add, undefined, `${name}: adds no capability`);
  assert.equal(pod.automountServiceAccountToken, false, `${name}: no service account token`);
  assert.equal(pod.terminationGracePeriodSeconds, 30, `${name}: terminationGracePeriodSeconds`);
  // readOnlyRootFilesystem: /tmp is a writable emptyDir.
  const tmp = container.volumeMounts?.find((m) => m.mountPath === '/tmp');
  assert.ok(tmp, `${name}: /tmp is mounted`);
  assert.ok(pod.volumes?.find((v) => v.name === tmp.name)?.emptyDir, `${name}: /tmp is an emptyDir`);
  const { requests, limits } = container.resources ?? {};
  for (const [what, value] of Object.entries({ 'requests.cpu': requests?.cpu, 'requests.memory': requests?.memory, 'limits.cpu': limits?.cpu, 'limits.memory': limits?.memory })) {
    assert.ok(value !== undefined, `${name}: resources.${what} is set`);
  }
}

/** Every directory under k8s/ that holds a kustomization.yaml, relative to k8s/. */
function kustomizationDirs(dir = K8S): string[] {
  const entries = readdirSync(dir, { withFileTypes: true });
  const here = entries.some((e) => e.isFile() && e.name === 'kustomization.yaml') ? [relative(K8S, dir)] : [];
  return [...here, ...entries.filter((e) => e.isDirectory()).flatMap((e) => kustomizationDirs(join(dir, e.name)))].sort();
}

// Replaces the kubectl 1.20 portability check (`bases:` for directories, resources as files):
// the kustomizations now target current kustomize, which warns on `bases:`.
test('every kustomization is rendered here, and none uses a field that current kustomize deprecates', () => {
  assert.deepEqual(kustomizationDirs(), Object.keys(EXPECTED).sort(), 'every kustomization under k8s/ is in EXPECTED');
  for (const dir of Object.keys(EXPECTED)) {
    const kustomization: unknown = parse(readFileSync(join(K8S, dir, 'kustomization.yaml'), 'utf8'));
    assert.ok(isRecord(kustomization), `k8s/${dir}/kustomization.yaml is a mapping`);
    for (const key of DEPRECATED_KUSTOMIZATION_KEYS) {
      assert.ok(!(key in kustomization), `k8s/${dir}/kustomization.yaml: "${key}" is deprecated (use resources, labels or patches)`);
    }
    for (const entry of (kustomization.resources ?? []) as string[]) {
      assert.ok(existsSync(join(K8S, dir, entry)), `k8s/${dir}: resources entry ${entry} exists`);
    }
  }
});

for (const [dir, expected] of Object.entries(EXPECTED)) {
  test(`k8s/${dir} renders and every object validates against its schema`, (t) => {
    if (!requireBinary(t, KUBECTL, KUBECTL_PACKAGE)) return;
    const objects = render(dir);
    assert.deepEqual(describeKinds(objects), expected);
    for (const obj of objects) assertValid(obj, `k8s/${dir}`);
    if (INSTALLS_ALL.includes(dir)) {
      // One command installs everything: the namespace comes first, every other object is in it.
      const [namespace, ...rest] = objects;
      assert.equal(namespace?.kind, 'Namespace');
      assert.equal(namespace.metadata.name, NAMESPACE);
      assert.equal(namespace.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
      for (const obj of rest) assert.equal(obj.metadata.namespace, NAMESPACE, `${obj.kind}/${obj.metadata.name} in namespace ${NAMESPACE}`);
    }
  });
}

test('a typo or a wrong type in a rendered object fails validation', (t) => {
  if (!requireBinary(t, KUBECTL, KUBECTL_PACKAGE)) return;
  const objects = render('example');
  const deployment = find<KubeObject>(objects, 'Deployment', 't3-probe');
  const serviceMonitor = find<KubeObject>(objects, 'ServiceMonitor', 't3-probe');
  const pod = ['spec', 'template', 'spec'];
  const container = [...pod, 'containers', 0];

  // A misspelt required field: the schema misses `containers`.
  assert.throws(() => validate(renamed(deployment, pod, 'containers', 'contaners')), /containers/);
  // A string where the schema wants an integer.
  assert.throws(() => validate(withValue(deployment, [...container, 'ports', 0, 'containerPort'], '9464')), /containerPort|integer/);
  assert.throws(() => validate(withValue(deployment, ['spec', 'replicas'], 'one')), /replicas|integer/);

  // A misspelt optional field: the unknown-key check catches what validate() lets through.
  const filesytem = renamed(deployment, [...container, 'securityContext'], 'readOnlyRootFilesystem', 'readOnlyRootFilesytem');
  assert.deepEqual(unknownKeys(filesytem), ['spec.template.spec.containers.0.securityContext.readOnlyRootFilesytem']);
  const readinesProbe = renamed(deployment, container, 'readinessProbe', 'readinesProbe');
  assert.deepEqual(unknownKeys(readinesProbe), ['spec.template.spec.containers.0.readinesProbe']);
  // The same in a CRD: an endpoint whose `port` is misspelt.
  const prot = renamed(serviceMonitor, ['spec', 'endpoints', 0], 'port', 'prot');
  assert.deepEqual(unknownKeys(prot), ['spec.endpoints.0.prot']);

  // The routes: a plain Ingress, and Traefik's IngressRoute against the schema of its CRD.
  const ingress = find<KubeObject>(render('routing/ingress'), 'Ingress', 't3-probe-echo');
  const path = ['spec', 'rules', 0, 'http', 'paths', 0];
  assert.throws(() => validate(renamed(ingress, path, 'pathType', 'pathtype')), /pathType/);
  assert.deepEqual(unknownKeys(renamed(ingress, [...path, 'backend'], 'service', 'servce')), ['spec.rules.0.http.paths.0.backend.servce']);
  assert.throws(() => validate(withValue(ingress, [...path, 'backend', 'service', 'port', 'number'], '8080')), /number|integer/);
  const route = find<KubeObject>(render('routing/traefik'), 'IngressRoute', 't3-probe-echo');
  const rule = ['spec', 'routes', 0];
  assert.throws(() => validate(renamed(route, rule, 'match', 'mach')), /match/);
  assert.throws(() => validate(withValue(route, [...rule, 'kind'], 'rule')), /kind|allowed values/);
  assert.throws(() => validate(withValue(route, ['spec', 'entryPoints'], 'websecure')), /entryPoints|array/);
  assert.deepEqual(unknownKeys(renamed(route, rule, 'services', 'service')), ['spec.routes.0.service']);
  assert.deepEqual(unknownKeys(renamed(route, ['spec', 'tls'], 'secretName', 'secret')), ['spec.tls.secret']);
  // A kind without a schema is a failure, not a pass.
  assert.throws(() => validate({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'x' } }), /no schema for this kind/);
});

test('the probe Deployment is locked down, sized from the measurements, and probed on /healthz and /readyz', (t) => {
  if (!requireBinary(t, KUBECTL, KUBECTL_PACKAGE)) return;
  const objects = render('example');
  const deployment = find<IDeployment>(objects, 'Deployment', 't3-probe');
  const pod = podSpec(deployment);
  const container = onlyContainer(deployment);

  assert.equal(deployment.spec?.replicas, 1);
  assert.equal(container.image, 'ghcr.io/t3/t3-probe:0.1.0');
  assert.deepEqual(container.args, ['run', '--config', '/etc/t3-probe/probe.yaml']);
  assert.deepEqual(container.env, [{ name: 'T3PROBE_LISTEN', value: '0.0.0.0:9464' }]);
  assert.deepEqual(container.ports, [{ name: 'metrics', containerPort: 9464, protocol: 'TCP' }]);
  assertLockedDown(deployment);
  assert.deepEqual(container.resources, { requests: { cpu: '25m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } });
  assert.deepEqual(container.livenessProbe?.httpGet, { path: '/healthz', port: 'metrics' });
  assert.deepEqual(container.readinessProbe?.httpGet, { path: '/readyz', port: 'metrics' });
  // The ServiceMonitor scrapes; scrape annotations would make a second, differently-labelled job.
  const annotations = Object.keys(deployment.spec?.template.metadata?.annotations ?? {});
  assert.deepEqual(annotations.filter((a) => a.startsWith('prometheus.io/')), []);

  // --config points into the ConfigMap volume, at the key the generator made, under the
  // generated (hash-suffixed) name.
  const configMap = find<IConfigMap>(objects, 'ConfigMap', 't3-probe-config');
  const mount = container.volumeMounts?.find((m) => m.mountPath === '/etc/t3-probe');
  assert.ok(mount, 'the config is mounted at /etc/t3-probe');
  assert.equal(mount.readOnly, true);
  const volume = pod.volumes?.find((v) => v.name === mount.name);
  assert.equal(volume?.configMap?.name, configMap.metadata?.name);
  assert.deepEqual(Object.keys(configMap.data ?? {}), ['probe.yaml']);

  const echo = find<IDeployment>(objects, 'Deployment', 't3-probe-echo');
  const echoContainer = onlyContainer(echo);
  assert.equal(echo.spec?.replicas, 2);
  assert.equal(echoContainer.image, 'ghcr.io/t3/t3-probe:0.1.0');
  assert.deepEqual(echoContainer.args, ['echo', '--listen', '0.0.0.0:8080', '--tcp-listen', '0.0.0.0:9000']);
  assert.deepEqual(
    echoContainer.ports?.map((p) => [p.name, p.containerPort]),
    [['http', 8080], ['tcp-echo', 9000]],
  );
  assert.deepEqual(echoContainer.livenessProbe?.httpGet, { path: '/probe/healthz', port: 'http' });
  assert.deepEqual(echoContainer.readinessProbe?.httpGet, { path: '/probe/healthz', port: 'http' });
  assertLockedDown(echo);
});

test('the Services, the PodDisruptionBudget and the NetworkPolicy select the right pods and ports', (t) => {
  if (!requireBinary(t, KUBECTL, KUBECTL_PACKAGE)) return;
  const objects = render('example');
  const probe = find<IDeployment>(objects, 'Deployment', 't3-probe');
  const echo = find<IDeployment>(objects, 'Deployment', 't3-probe-echo');
  const probeLabels = probe.spec?.template.metadata?.labels;
  const echoLabels = echo.spec?.template.metadata?.labels;
  assert.ok(selects(probe.spec?.selector.matchLabels, probeLabels), 'the probe Deployment selects its own pods');
  assert.ok(selects(echo.spec?.selector.matchLabels, echoLabels), 'the echo Deployment selects its own pods');

  const service = find<IService>(objects, 'Service', 't3-probe');
  assert.equal(service.spec?.type, 'ClusterIP');
  assert.ok(selects(service.spec?.selector, probeLabels), 'the Service selects the probe pod');
  assert.ok(!selects(service.spec?.selector, echoLabels), 'the Service does not select echo pods');
  assert.deepEqual(service.spec?.ports, [{ name: 'metrics', port: 9464, targetPort: 'metrics', protocol: 'TCP' }]);

  const echoService = find<IService>(objects, 'Service', 't3-probe-echo');
  assert.ok(selects(echoService.spec?.selector, echoLabels), 'the echo Service selects the echo pods');
  assert.ok(!selects(echoService.spec?.selector, probeLabels), 'the echo Service does not select the probe');
  assert.deepEqual(
    echoService.spec?.ports?.map((p) => [p.name, p.port, p.targetPort]),
    [['http', 8080, 'http'], ['tcp-echo', 9000, 'tcp-echo']],
  );

  const pdb = find<IPodDisruptionBudget>(objects, 'PodDisruptionBudget', 't3-probe-echo');
  assert.equal(pdb.spec?.minAvailable, 1);
  assert.ok(selects(pdb.spec?.selector?.matchLabels, echoLabels), 'the PodDisruptionBudget covers the echo pods');

  const policy = find<INetworkPolicy>(objects, 'NetworkPolicy', 't3-probe');
  assert.ok(selects(policy.spec?.podSelector.matchLabels, probeLabels), 'the NetworkPolicy applies to the probe pod');
  assert.deepEqual(policy.spec?.policyTypes, ['Ingress', 'Egress']);
  // Ingress: the metrics port only, from Prometheus pods (any namespace), and from any pod in a
  // namespace labelled for the operator's tools (attribute --probe).
  assert.deepEqual(policy.spec?.ingress, [
    {
      from: [
        { namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } },
        { namespaceSelector: { matchLabels: { 't3-probe/attribute': 'allowed' } } },
      ],
      ports: [{ protocol: 'TCP', port: 9464 }],
    },
  ]);
  // Egress: DNS, and to any address (the public internet included) the ports of the shipped
  // config: 443 (wss legs and DoH), 8080 (t3serve), 9000 (the swarm-vip idle leg).
  assert.deepEqual(egressPorts(policy), ['TCP/443', 'TCP/53', 'TCP/8080', 'TCP/9000', 'UDP/53']);
});

test('the ServiceMonitor scrapes the Service\'s metrics port every 15 s as job="t3-probe"', (t) => {
  if (!requireBinary(t, KUBECTL, KUBECTL_PACKAGE)) return;
  const objects = render('example');
  const monitor = find<IServiceMonitor>(objects, 'ServiceMonitor', 't3-probe');
  const services = objects.filter((o) => o.kind === 'Service') as IService[];
  const selected = services.filter((s) => selects(monitor.spec.selector.matchLabels, s.metadata?.labels));
  assert.deepEqual(selected.map((s) => s.metadata?.name), ['t3-probe'], 'selects the probe Service and nothing else');
  const service = selected[0]!;
  // Without namespaceSelector the operator looks in the ServiceMonitor's own namespace.
  assert.equal(monitor.spec.namespaceSelector, undefined);
  assert.equal(monitor.metadata?.namespace, service.metadata?.namespace);

  assert.equal(monitor.spec.endpoints.length, 1);
  const endpoint = monitor.spec.endpoints[0]!;
  assert.equal(endpoint.port, 'metrics');
  assert.ok(service.spec?.ports?.some((p) => p.name === endpoint.port), 'the endpoint port is a named port of the Service');
  assert.equal(endpoint.path, '/metrics');
  assert.equal(endpoint.interval, '15s');
  assert.equal(endpoint.relabelings, undefined, 'no relabeling that could rewrite job');
  // The operator sets job to the value of the Service label named by jobLabel (or, without
  // jobLabel, to the Service's name). The alerts and runbook queries match job="t3-probe".
  const job = monitor.spec.jobLabel === undefined ? service.metadata?.name : service.metadata?.labels?.[monitor.spec.jobLabel];
  assert.equal(job, 't3-probe');
});

test('the PrometheusRule carries exactly the groups of deploy/prometheus/t3-probe.rules.yml', (t) => {
  if (!requireBinary(t, KUBECTL, KUBECTL_PACKAGE)) return;
  const rule = find<IPrometheusRule>(render('monitoring'), 'PrometheusRule', 't3-probe');
  const plain = parse(readFileSync(join(ROOT, 'deploy/prometheus/t3-probe.rules.yml'), 'utf8')) as { groups: unknown };
  assert.deepEqual(rule.spec.groups, plain.groups);
  const alerts = (rule.spec.groups ?? []).flatMap((g) => (g.rules ?? []).map((r) => r.alert));
  for (const alert of ['T3ProbeLegDown', 'T3ProbeDropBurst', 'T3ProbeIdleExpired']) assert.ok(alerts.includes(alert), alert);
});

// Was: three legs and a commented-out idle leg. The shipped config now carries the four
// production legs, the idle one active, with placeholders that --check names.
test('the ConfigMap\'s probe.yaml passes the real config loader with the four production legs, every one a placeholder', (t) => {
  if (!requireBinary(t, KUBECTL, KUBECTL_PACKAGE)) return;
  const configMap = find<IConfigMap>(render('probe'), 'ConfigMap', 't3-probe-config');
  const text = configMap.data?.['probe.yaml'];
  assert.ok(text !== undefined);
  assert.equal(text, readFileSync(join(K8S, 'probe/probe.yaml'), 'utf8'), 'the ConfigMap holds the file verbatim');

  const config = parseConfig(text, { env: {} });
  assert.deepEqual(
    config.legs.map((l) => [l.name, l.kind, l.role]),
    [['cloudflare', 'ws', 'public'], ['internal', 'ws', 'internal'], ['t3serve', 'http', 'serve'], ['swarm-vip', 'idle', 'idle']],
  );
  assert.deepEqual(config.listen, { host: '0.0.0.0', port: 9464 });
  // The Deployment's T3PROBE_LISTEN agrees with the file and the containerPort.
  assert.deepEqual(parseConfig(text, { env: { T3PROBE_LISTEN: '0.0.0.0:9464' } }).listen, { host: '0.0.0.0', port: 9464 });

  // Nobody can mistake a sample address for theirs: every leg points at a documentation
  // placeholder, which `run --check` names.
  const flagged = new Set(findPlaceholders(config).map((p) => /^legs\[\d+\] \(([^)]+)\)/.exec(p.key)?.[1]));
  assert.deepEqual([...flagged], config.legs.map((l) => l.name));
  // examples/probe.yaml is the same production shape: the same legs, only its comments differ.
  const example = parseConfig(readFileSync(join(ROOT, 'examples/probe.yaml'), 'utf8'), { env: {} });
  assert.deepEqual(example.legs, config.legs);
});

/** The host the public and internal legs of the shipped config dial. */
function shippedHost(): string {
  const config = parseConfig(readFileSync(join(K8S, 'probe/probe.yaml'), 'utf8'), { env: {} });
  const hosts = new Set(config.legs.filter((l) => l.kind === 'ws').map((l) => new URL(l.url).hostname));
  assert.equal(hosts.size, 1, 'the ws legs dial one host');
  return [...hosts][0]!;
}

test('the Ingress and the Traefik IngressRoute send /probe/ws and /probe/healthz on the public host to the echo Service', (t) => {
  if (!requireBinary(t, KUBECTL, KUBECTL_PACKAGE)) return;
  const host = shippedHost();
  const echoService = find<IService>(render('echo'), 'Service', 't3-probe-echo');
  const echoPort = echoService.spec?.ports?.find((p) => p.name === 'http');
  assert.equal(echoPort?.port, 8080, 'the echo Service has the http port the routes name');

  const ingress = find<IIngress>(render('routing/ingress'), 'Ingress', 't3-probe-echo');
  assert.equal(ingress.spec?.rules?.length, 1);
  const rule = ingress.spec?.rules?.[0];
  assert.equal(rule?.host, host);
  assert.deepEqual(
    rule?.http?.paths.map((p) => [p.path, p.pathType, p.backend.service?.name, p.backend.service?.port?.name]),
    [
      ['/probe/ws', 'Exact', 't3-probe-echo', 'http'],
      ['/probe/healthz', 'Exact', 't3-probe-echo', 'http'],
    ],
  );
  // wss: TLS for the same host.
  assert.deepEqual(ingress.spec?.tls, [{ hosts: [host], secretName: 't3-probe-tls' }]);

  const route = find<IIngressRoute>(render('routing/traefik'), 'IngressRoute', 't3-probe-echo');
  assert.deepEqual(route.spec.entryPoints, ['websecure']);
  assert.equal(route.spec.routes.length, 1);
  const traefikRule = route.spec.routes[0]!;
  assert.equal(traefikRule.match, `Host(\`${host}\`) && (Path(\`/probe/ws\`) || Path(\`/probe/healthz\`))`);
  assert.deepEqual(traefikRule.services, [{ kind: 'Service', name: 't3-probe-echo', port: 'http' }]);
  assert.deepEqual(route.spec.tls, { secretName: 't3-probe-tls' });
});

test('the kube-prometheus-stack overlay labels the ServiceMonitor and the PrometheusRule, and nothing else', (t) => {
  if (!requireBinary(t, KUBECTL, KUBECTL_PACKAGE)) return;
  const example = render('example');
  const overlay = render('overlays/kube-prometheus-stack');
  const labelled = overlay.filter((o) => o.metadata.labels?.release !== undefined);
  assert.deepEqual(
    labelled.map((o) => [o.kind, o.metadata.name, o.metadata.labels?.release]),
    [
      ['PrometheusRule', 't3-probe', 'kube-prometheus-stack'],
      ['ServiceMonitor', 't3-probe', 'kube-prometheus-stack'],
    ],
  );
  // Apart from that label the overlay installs exactly what k8s/example does.
  const unlabelled = overlay.map((o) => {
    const copy = structuredClone(o);
    if (copy.metadata.labels?.release !== undefined) delete copy.metadata.labels.release;
    return copy;
  });
  assert.deepEqual(unlabelled, example);
});

/** Runs the script; it loads the config with the built loader (dist/, as the CLI tests use). */
function policyFromConfig(config: string): string {
  assert.ok(existsSync(join(ROOT, 'dist/index.js')), 'dist/ is missing: run "npm run build" first');
  return execFileSync(process.execPath, [SCRIPT, config], { cwd: ROOT, encoding: 'utf8' });
}

test('the shipped NetworkPolicy is what scripts/networkpolicy-from-config.mjs makes of the shipped config', () => {
  assert.equal(
    policyFromConfig('k8s/probe/probe.yaml'),
    readFileSync(join(K8S, 'probe/networkpolicy.yaml'), 'utf8'),
    'regenerate: node scripts/networkpolicy-from-config.mjs k8s/probe/probe.yaml > k8s/probe/networkpolicy.yaml',
  );
});

test('a config with a serve leg on port 8081 gets a NetworkPolicy that allows 8081, through an overlay patch', (t) => {
  if (!requireBinary(t, KUBECTL, KUBECTL_PACKAGE)) return;
  const dir = mkdtempSync(join(tmpdir(), 't3-k8s-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'probe.yaml'),
    [
      'doh: { url: "https://doh.acme.io:8443/dns-query" }',
      'legs:',
      '  - { name: cloudflare, kind: ws, url: "wss://t3.acme.io/probe/ws", resolve: doh }',
      '  - { name: plain, kind: ws, url: "ws://t3.acme.io/probe/ws" }',
      '  - { name: t3serve, kind: http, url: "http://10.1.2.3:8081/probe/healthz" }',
      '  - { name: swarm-vip, kind: idle, url: "tcp://10.1.2.4:9000" }',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'networkpolicy.yaml'), policyFromConfig(join(dir, 'probe.yaml')));
  // The overlay the script's header describes: your config, and its policy as a patch.
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      `  - ${relative(dir, join(K8S, 'probe'))}`,
      'configMapGenerator:',
      '  - name: t3-probe-config',
      '    behavior: replace',
      '    files: [probe.yaml]',
      'patches:',
      '  - path: networkpolicy.yaml',
      '',
    ].join('\n'),
  );
  const objects = render(dir);
  const policy = find<INetworkPolicy & KubeObject>(objects, 'NetworkPolicy', 't3-probe');
  assertValid(policy, 'the overlay');
  // 443 for wss and 80 for ws by default, the DoH server's own 8443, and the legs' explicit ports.
  assert.deepEqual(egressPorts(policy), ['TCP/443', 'TCP/53', 'TCP/80', 'TCP/8081', 'TCP/8443', 'TCP/9000', 'UDP/53']);
  const configMap = find<IConfigMap>(objects, 'ConfigMap', 't3-probe-config');
  assert.match(configMap.data?.['probe.yaml'] ?? '', /:8081\//, 'the overlay\'s config replaced the shipped one');
});

test('scripts/networkpolicy-from-config.mjs refuses an invalid config with the loader\'s message', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 't3-k8s-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'probe.yaml'), 'legs:\n  - { name: a, kind: idle, url: "tcp://10.1.2.4" }\n');
  assert.ok(existsSync(join(ROOT, 'dist/index.js')), 'dist/ is missing: run "npm run build" first');
  const result = spawnSync(process.execPath, [SCRIPT, join(dir, 'probe.yaml')], { encoding: 'utf8' });
  assert.equal(result.status, 2);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /legs\[0\] \(a\)\.url: must name a port/);
});
