/**
 * The Kubernetes manifests (k8s/): every kustomization renders with the real kubectl, and every
 * rendered object validates offline against the real schemas of kubernetes-models (core kinds)
 * and @kubernetes-models/prometheus-operator (ServiceMonitor, PrometheusRule). The schemas'
 * validate() does not reject unknown keys, so each object also goes through a strict check that
 * finds keys no schema types: a typo in any field fails. Then the requirements the manifests
 * exist for: a locked-down probe pod sized from our measurements, a metrics port the
 * ServiceMonitor scrapes as job="t3-probe", the same alert rules as deploy/prometheus, and a
 * ConfigMap the real config loader accepts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import type { IPrometheusRule, IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import type { IDeployment } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import type { IConfigMap, IContainer, IPodSpec, IService } from 'kubernetes-models/v1';
import { parseConfig } from '../../src/config/load.js';
import { requireBinary } from '../helpers/system.js';

const KUBECTL = '/usr/bin/kubectl';
/**
 * Debian's package for kubectl (1.20, with an old kustomize: see PORTABLE_KUSTOMIZATION_KEYS).
 * Debian has no package named "kubectl"; the one on this machine image comes from Google's repo.
 */
const KUBECTL_PACKAGE = 'kubernetes-client';
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
  ['policy/v1/PodDisruptionBudget', PodDisruptionBudget],
  ['monitoring.coreos.com/v1/ServiceMonitor', ServiceMonitor],
  ['monitoring.coreos.com/v1/PrometheusRule', PrometheusRule],
]);

/** What each kustomization renders, sorted as `kind/name` (the ConfigMap's hash suffix cut off). */
const EXPECTED: Readonly<Record<string, readonly string[]>> = {
  probe: ['ConfigMap/t3-probe-config', 'Deployment/t3-probe', 'NetworkPolicy/t3-probe', 'Service/t3-probe'],
  monitoring: ['PrometheusRule/t3-probe', 'ServiceMonitor/t3-probe'],
  echo: ['Deployment/t3-probe-echo', 'PodDisruptionBudget/t3-probe-echo', 'Service/t3-probe-echo'],
  example: [
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
  ],
};

/**
 * Kustomization fields the kustomize inside kubectl 1.20 (Debian's kubernetes-client) knows, and
 * that newer kustomize still renders. `bases` is there because 1.20 takes directories only there.
 */
const PORTABLE_KUSTOMIZATION_KEYS = new Set(['apiVersion', 'kind', 'resources', 'bases', 'configMapGenerator', 'namespace', 'images', 'commonLabels']);

function render(dir: string): KubeObject[] {
  const out = execFileSync(KUBECTL, ['kustomize', join(K8S, dir)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
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

test('every kustomization uses only fields that the kustomize in kubectl 1.20 knows, and resources are files', () => {
  for (const dir of Object.keys(EXPECTED)) {
    const kustomization: unknown = parse(readFileSync(join(K8S, dir, 'kustomization.yaml'), 'utf8'));
    assert.ok(isRecord(kustomization), `k8s/${dir}/kustomization.yaml is a mapping`);
    for (const key of Object.keys(kustomization)) {
      assert.ok(PORTABLE_KUSTOMIZATION_KEYS.has(key), `k8s/${dir}/kustomization.yaml: "${key}" is unknown to kubectl 1.20's kustomize`);
    }
    for (const entry of (kustomization.resources ?? []) as string[]) {
      const path = join(K8S, dir, entry);
      assert.ok(existsSync(path) && statSync(path).isFile(), `k8s/${dir}: resources entry ${entry} must be a file (kubectl 1.20 takes directories only under bases)`);
    }
  }
});

for (const [dir, expected] of Object.entries(EXPECTED)) {
  test(`k8s/${dir} renders and every object validates against its schema`, (t) => {
    if (!requireBinary(t, KUBECTL, KUBECTL_PACKAGE)) return;
    const objects = render(dir);
    assert.deepEqual(describeKinds(objects), expected);
    for (const obj of objects) assertValid(obj, `k8s/${dir}`);
    if (dir === 'example') {
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
  // Ingress: the metrics port only, from Prometheus pods only (any namespace).
  assert.deepEqual(policy.spec?.ingress, [
    {
      from: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } }],
      ports: [{ protocol: 'TCP', port: 9464 }],
    },
  ]);
  // Egress: DNS, and the legs' far ends and DoH to any address (the public internet included).
  const egress = policy.spec?.egress ?? [];
  for (const rule of egress) assert.equal(rule.to, undefined, 'egress is not narrowed to addresses');
  const egressPorts = egress.flatMap((rule) => (rule.ports ?? []).map((p) => `${p.protocol}/${p.port}`)).sort();
  assert.deepEqual(egressPorts, ['TCP/443', 'TCP/53', 'TCP/80', 'TCP/8080', 'TCP/9000', 'UDP/53']);
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

test('the ConfigMap\'s probe.yaml passes the real config loader, and so does its commented idle leg', (t) => {
  if (!requireBinary(t, KUBECTL, KUBECTL_PACKAGE)) return;
  const configMap = find<IConfigMap>(render('probe'), 'ConfigMap', 't3-probe-config');
  const text = configMap.data?.['probe.yaml'];
  assert.ok(text !== undefined);
  assert.equal(text, readFileSync(join(K8S, 'probe/probe.yaml'), 'utf8'), 'the ConfigMap holds the file verbatim');

  const config = parseConfig(text, { env: {} });
  assert.deepEqual(
    config.legs.map((l) => [l.name, l.kind]),
    [['cloudflare', 'ws'], ['internal', 'ws'], ['t3serve', 'http']],
  );
  assert.deepEqual(config.listen, { host: '0.0.0.0', port: 9464 });
  // The Deployment's T3PROBE_LISTEN agrees with the file and the containerPort.
  assert.deepEqual(parseConfig(text, { env: { T3PROBE_LISTEN: '0.0.0.0:9464' } }).listen, { host: '0.0.0.0', port: 9464 });

  // Uncommenting the idle leg, as its comment invites, gives a valid fourth leg.
  const uncommented = text.replace(/^ {2}# (- name: echo-idle)$/m, '  $1').replace(/^ {2}# {3}/gm, '    ');
  assert.notEqual(uncommented, text, 'the commented idle leg is there');
  const withIdle = parseConfig(uncommented, { env: {} });
  assert.deepEqual(
    withIdle.legs.map((l) => [l.name, l.kind]),
    [['cloudflare', 'ws'], ['internal', 'ws'], ['t3serve', 'http'], ['echo-idle', 'idle']],
  );
});
