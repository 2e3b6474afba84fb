// infra/ cannot be applied here (no cluster, no Prometheus), so it is checked against the code instead: every
// service is deployed from an entry point that exists and configured with variables loadConfig accepts in
// production (the platform's and the service's own section), secrets are only referenced and reach only the
// services SUBGRAPHS gives them to, and the alert rules query metrics the code really exports.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigError, createMetricsRegistry, loadConfig, metricsPortOf, SUBGRAPH_NAMES } from '@mall/platform';
import { parseAllDocuments } from 'yaml';
import { AVAILABLE_SUBGRAPHS, SUBGRAPHS } from '../src/index.ts';
import { configSectionsOf, DEPLOYED_SERVICES as SERVICES, secretOwners } from './deployed-services.ts';

const root = new URL('../../../', import.meta.url);

/** Paths (from the repository root) of the files under `dir` whose name matches. */
function filesUnder(dir: string, pattern: RegExp): string[] {
  if (!existsSync(new URL(`${dir}/`, root))) return [];
  return readdirSync(new URL(`${dir}/`, root), { recursive: true })
    .map(String)
    .filter((path) => pattern.test(path))
    .map((path) => `${dir}/${path}`)
    .sort();
}

const yamlFiles = filesUnder('infra', /\.ya?ml$/);

interface Doc {
  file: string;
  value: any;
}
const docs: Doc[] = yamlFiles.flatMap((file) =>
  parseAllDocuments(readFileSync(new URL(file, root), 'utf8')).map((doc) => {
    assert.deepEqual(doc.errors, [], `${file} does not parse`);
    return { file, value: doc.toJS() };
  }),
);
const k8s = docs
  .filter((d) => d.file.startsWith('infra/k8s/') && d.value?.kind && d.value.kind !== 'Kustomization')
  .map((d) => d.value);
const workloads = new Map<string, any>(
  k8s.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet').map((o) => [o.metadata.name, o]),
);
const services = k8s.filter((o) => o.kind === 'Service');
const configMaps = new Map<string, Record<string, string>>(
  k8s.filter((o) => o.kind === 'ConfigMap').map((o) => [o.metadata.name, o.data ?? {}]),
);

function container(name: string): any {
  const workload = workloads.get(name);
  assert.ok(workload, `infra/k8s has no Deployment or StatefulSet named ${name}`);
  const containers = workload.spec.template.spec.containers as any[];
  assert.equal(containers.length, 1, `${name} runs one container`);
  return containers[0];
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
    configMapKeyRef?: unknown;
  };
}
const envOf = (name: string): EnvVar[] => container(name).env ?? [];
const secretEnvOf = (name: string) => envOf(name).filter((e) => e.valueFrom?.secretKeyRef);

/** What the process would see, with each secret reference standing in as a plausible value. */
function effectiveEnv(name: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container(name).envFrom ?? []) {
    assert.ok(source.configMapRef, `${name}: envFrom only from ConfigMaps (a secretRef would hand over every key)`);
    const data = configMaps.get(source.configMapRef.name);
    assert.ok(data, `${name} reads ConfigMap ${source.configMapRef.name}, which infra/k8s does not define`);
    Object.assign(env, data);
  }
  for (const e of envOf(name)) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef)
      env[e.name] = `placeholder-for-${e.valueFrom.secretKeyRef.name}-${e.valueFrom.secretKeyRef.key}-0123456789`;
    else if (e.valueFrom?.fieldRef) env[e.name] = '0';
  }
  return env;
}

/** A name that must never carry a literal value in the repository. */
const SECRET_NAME = /SECRET|PASSWORD|PRIVATE_KEY|TOKEN|CREDENTIAL/;

describe('infra/', () => {
  it('parses every yaml file, and the kustomization lists every manifest beside it', () => {
    assert.ok(yamlFiles.includes('infra/k8s/kustomization.yaml'));
    assert.ok(yamlFiles.includes('infra/prometheus/alerts.yaml'));
    const kustomization = docs.find((d) => d.file === 'infra/k8s/kustomization.yaml')!.value;
    const manifests = yamlFiles
      .filter((f) => f.startsWith('infra/k8s/') && f !== 'infra/k8s/kustomization.yaml')
      .map((f) => f.slice('infra/k8s/'.length));
    assert.deepEqual(
      [...kustomization.resources].sort(),
      manifests,
      'kustomization.yaml resources = the manifests in infra/k8s',
    );
    for (const object of k8s) {
      assert.ok(object.apiVersion && object.metadata?.name, `${object.kind} without apiVersion or metadata.name`);
    }
  });

  it('runs every service the stack has from an entry file that exists, with probes, metrics scraping, limits and no root', () => {
    for (const name of SERVICES) {
      const workload = workloads.get(name);
      assert.ok(workload, `infra/k8s has no workload for ${name}`);
      // Subgraphs issue snowflake ids: each pod needs a stable, distinct worker id, which a StatefulSet's index gives.
      assert.equal(workload.kind, name === 'router' ? 'Deployment' : 'StatefulSet', `${name} kind`);
      const c = container(name);
      const argv: string[] = [...(c.command ?? []), ...(c.args ?? [])];
      const entry = argv.find((arg) => arg.endsWith('.ts'));
      assert.ok(entry && existsSync(new URL(entry, root)), `${name} runs ${argv.join(' ')}: no existing entry file`);
      assert.equal(c.workingDir, '/app', `${name}: entry paths are relative to the image's WORKDIR`);

      const port = (c.ports as any[]).find((p) => p.name === 'http')?.containerPort;
      assert.ok(port, `${name} declares its http port`);
      assert.equal(c.readinessProbe?.httpGet?.path, '/health/ready', `${name} readiness`);
      assert.equal(c.livenessProbe?.httpGet?.path, '/health/live', `${name} liveness`);
      const annotations = workload.spec.template.metadata.annotations ?? {};
      assert.equal(annotations['prometheus.io/scrape'], 'true', `${name} is scraped`);
      assert.equal(annotations['prometheus.io/path'], '/metrics', `${name} metrics path`);
      // Scraped on the metrics port (service port + METRICS_PORT_OFFSET), which no Service exposes.
      const metricsPort = (c.ports as any[]).find((p) => p.name === 'metrics')?.containerPort;
      assert.equal(metricsPort, metricsPortOf(loadConfig({}), port), `${name} declares its metrics port`);
      assert.equal(Number(annotations['prometheus.io/port']), metricsPort, `${name} metrics port`);

      for (const kind of ['requests', 'limits']) {
        assert.ok(c.resources?.[kind]?.cpu && c.resources?.[kind]?.memory, `${name} sets cpu and memory ${kind}`);
      }
      const podSecurity = workload.spec.template.spec.securityContext ?? {};
      assert.equal(podSecurity.runAsNonRoot, true, `${name} runs as non-root`);
      assert.ok(podSecurity.runAsUser > 0, `${name} runs as a non-zero uid`);
      assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${name} cannot escalate`);
      assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${name} drops every capability`);

      const labels = workload.spec.template.metadata.labels;
      const service = services.find((s) => s.metadata.name === name);
      assert.ok(service, `${name} has a Service of its own name`);
      assert.ok(
        Object.entries(service.spec.selector).every(([k, v]) => labels[k] === v),
        `Service ${name} selects the ${name} pods`,
      );
      assert.ok(
        Object.entries(workload.spec.selector.matchLabels).every(([k, v]) => labels[k] === v),
        `${name} selector matches its pods`,
      );
    }
  });

  it('derives each subgraph instance’s MALL_WORKER_ID from its pod index', () => {
    for (const name of AVAILABLE_SUBGRAPHS) {
      const workerId = envOf(name).find((e) => e.name === 'MALL_WORKER_ID');
      assert.equal(
        workerId?.valueFrom?.fieldRef?.fieldPath,
        "metadata.labels['apps.kubernetes.io/pod-index']",
        `${name} MALL_WORKER_ID`,
      );
      assert.ok(workloads.get(name).spec.replicas <= 1024, `${name}: worker ids stop at 1023`);
    }
  });

  it('configures each service with what loadConfig accepts in production, pointing the URLs at the Services', async () => {
    for (const name of SERVICES) {
      const env = effectiveEnv(name);
      assert.equal(env['NODE_ENV'], 'production', `${name} must run in production mode`);
      let config: ReturnType<typeof loadConfig>;
      try {
        config = loadConfig(env, await configSectionsOf(name));
      } catch (err) {
        assert.fail(`${name}: ${err instanceof ConfigError ? err.issues.join('; ') : String(err)}`);
      }
      assert.ok(config.kafka.brokers?.length, `${name} must use a real Kafka (KAFKA_BROKERS)`);
      const listening = name === 'router' ? config.port : config.subgraphs[name].port;
      const containerPort = (container(name).ports as any[]).find((p) => p.name === 'http').containerPort;
      assert.equal(listening, containerPort, `${name} listens on its containerPort`);
      for (const target of AVAILABLE_SUBGRAPHS) {
        const url = new URL(config.subgraphs[target].url);
        const service = services.find((s) => s.metadata.name === url.hostname);
        assert.ok(service, `${name} reaches ${target} at ${url}, which is no Service`);
        assert.ok(
          (service.spec.ports as any[]).some(
            (p) => p.port === Number(url.port) && (p.targetPort === 'http' || p.targetPort === Number(url.port)),
          ),
          `${name}: Service ${url.hostname} does not serve port ${url.port}`,
        );
        assert.equal(
          service.metadata.name,
          target,
          `${name}: ${target}_URL points at Service ${service.metadata.name}`,
        );
      }
    }
  });

  it('keeps secret values out of the repository: only secretKeyRefs to Secrets created out of band', () => {
    for (const doc of docs) {
      assert.notEqual(doc.value?.kind, 'Secret', `${doc.file} defines a Secret: create it out of band instead`);
    }
    for (const file of yamlFiles) {
      assert.doesNotMatch(
        readFileSync(new URL(file, root), 'utf8'),
        /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
        `${file} holds a private key`,
      );
    }
    for (const [name, data] of configMaps) {
      for (const [key, value] of Object.entries(data)) {
        assert.doesNotMatch(key, SECRET_NAME, `ConfigMap ${name} holds ${key}`);
        if (/^[a-z]+:\/\//.test(value))
          assert.equal(new URL(value).password, '', `ConfigMap ${name}: ${key} carries a password`);
      }
    }
    for (const name of workloads.keys()) {
      for (const e of envOf(name)) {
        if (SECRET_NAME.test(e.name) || e.name === 'PGPASSWORD') {
          assert.equal(e.value, undefined, `${name}: ${e.name} has a literal value`);
          assert.ok(
            e.valueFrom?.secretKeyRef?.name && e.valueFrom.secretKeyRef.key,
            `${name}: ${e.name} must come from a secretKeyRef`,
          );
        }
      }
    }
  });

  it('gives each secret only to the services that need it', () => {
    const holders = (variable: string) =>
      [...workloads.keys()].filter((name) => secretEnvOf(name).some((e) => e.name === variable)).sort();
    assert.deepEqual(
      holders('MALL_INTERNAL_SECRET'),
      [...workloads.keys()].sort(),
      'every service signs or verifies identity tokens',
    );
    // Each subgraph's own secrets (SUBGRAPHS[].secrets) reach it alone, from its own Secret mall-<name>.
    for (const { name, secrets = {} } of SUBGRAPHS) {
      for (const [variable, key] of Object.entries(secrets)) {
        assert.deepEqual(holders(variable), [name], `only ${name} is given ${variable}`);
        const ref = secretEnvOf(name).find((e) => e.name === variable)!.valueFrom!.secretKeyRef;
        assert.deepEqual(ref, { name: `mall-${name}`, key }, `${name}: ${variable} from its own Secret`);
      }
    }
    assert.deepEqual(secretOwners('AUTH_JWT_PRIVATE_KEY'), ['auth'], 'only auth mints access tokens');
    assert.deepEqual(secretOwners('MALL_ADMIN_PASSWORD'), ['user'], 'only user knows the bootstrap admin password');
    // Beyond the shared internal secret, no Secret is read by two services (each has its own database password).
    const shared = new Set(secretEnvOf('router').map((e) => e.valueFrom!.secretKeyRef!.name));
    const readers = new Map<string, Set<string>>();
    for (const name of workloads.keys()) {
      for (const e of secretEnvOf(name)) {
        const secret = e.valueFrom!.secretKeyRef!.name;
        if (!readers.has(secret)) readers.set(secret, new Set());
        readers.get(secret)!.add(name);
      }
    }
    for (const [secret, names] of readers) {
      if (!shared.has(secret)) assert.equal(names.size, 1, `Secret ${secret} is read by ${[...names].join(', ')}`);
    }
  });

  it('alerts only on metrics the code exports, covering the router, the event pipeline and every service', async () => {
    const alerts = docs.find((d) => d.file === 'infra/prometheus/alerts.yaml')!.value;
    const rules = (alerts.spec.groups as any[]).flatMap((g) => g.rules as any[]);
    assert.ok(rules.length > 0);

    const sources = [
      ...readdirSync(new URL('packages/', root)).flatMap((pkg) => filesUnder(`packages/${pkg}/src`, /\.ts$/)),
      ...filesUnder('router/src', /\.ts$/),
    ];
    const defined = new Set<string>(['up']);
    for (const file of sources) {
      for (const m of readFileSync(new URL(file, root), 'utf8').matchAll(
        /name:\s*'([a-zA-Z_:][a-zA-Z0-9_:]*)',\s*help:/g,
      ))
        defined.add(m[1]!);
    }
    for (const metric of await createMetricsRegistry('infra-test').getMetricsAsJSON()) defined.add(metric.name);
    assert.ok(
      defined.has('outbox_pending_events') && defined.has('graphql_requests_total'),
      'the source scan finds the metric definitions',
    );

    const used = new Set<string>();
    for (const rule of rules) {
      assert.ok(
        rule.alert && rule.expr && rule.labels?.severity,
        `rule ${rule.alert ?? '?'} has alert, expr and severity`,
      );
      for (const metric of metricNames(rule.expr)) {
        const base = metric.replace(/_(bucket|sum|count)$/, '');
        assert.ok(defined.has(metric) || defined.has(base), `${rule.alert} uses ${metric}, which no code defines`);
        used.add(defined.has(metric) ? metric : base);
      }
      for (const [, value] of String(rule.expr).matchAll(/\bservice="([^"]+)"/g)) {
        assert.ok(
          value === 'router' || SUBGRAPH_NAMES.some((n) => value === `subgraph-${n}`),
          `${rule.alert}: no registry is labelled service="${value}"`,
        );
      }
      for (const [, value] of String(rule.expr).matchAll(/\bapp_kubernetes_io_name="([^"]+)"/g)) {
        assert.ok(workloads.has(value!), `${rule.alert}: no workload ${value}`);
      }
    }
    for (const metric of [
      'graphql_requests_total',
      'graphql_request_duration_seconds',
      'outbox_pending_events',
      'outbox_oldest_pending_seconds',
      'events_dead_lettered_total',
      'up',
    ]) {
      assert.ok(used.has(metric), `no alert uses ${metric}`);
    }
    for (const name of SERVICES) {
      assert.ok(
        rules.some(
          (r) =>
            r.labels?.severity === 'critical' &&
            String(r.expr).includes('up{') &&
            String(r.expr).includes(`app_kubernetes_io_name="${name}"`),
        ),
        `no critical alert fires when ${name} is down`,
      );
    }
  });
});

const PROMQL_KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
  'Inf',
  'NaN',
]);

/** Metric names in a PromQL expression: identifiers that are no function, keyword, label or string. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const before = stripped[m.index - 1] ?? ' ';
    if (/[0-9.]/.test(before)) continue; // an exponent or unit inside a number
    if (
      stripped
        .slice(m.index + m[0].length)
        .trimStart()
        .startsWith('(')
    )
      continue; // a function call
    if (PROMQL_KEYWORDS.has(m[0])) continue;
    names.push(m[0]);
  }
  return names;
}
