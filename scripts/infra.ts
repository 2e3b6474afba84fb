/**
 * Writes every deployment line that names a subgraph from SUBGRAPHS (packages/stack/src/services.ts), so adding
 * a subgraph is one line there:
 *   - `infra/k8s/<name>.yaml`, whole, from the one template `infra/k8s/subgraph.yaml.template`;
 *   - the regions between `>>> npm run infra: <region>` and `<<< npm run infra: <region>` marker comments in
 *     REGION_FILES (kustomization resources, ConfigMap entries, down alerts, compose services, Dockerfile COPYs,
 *     infra/README.md). Everything outside the markers stays hand-written.
 *
 *   node scripts/infra.ts           write them
 *   node scripts/infra.ts --check   exit 1 naming each stale file (CI)
 *
 * The output is checked in, so `kubectl apply -k` and `docker compose up` need no Node. Nothing is started:
 * each entry's `load` is lazy and never called here.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig, metricsPortOf, SUBGRAPH_NAMES } from '@mall/platform';
import { SUBGRAPHS, type SubgraphEntry } from '../packages/stack/src/services.ts';

/** What the deployment files need of an entry (tests pass made-up entries). */
export type InfraSubgraph = Pick<SubgraphEntry, 'name' | 'summary' | 'secrets'>;

const ROOT = new URL('../', import.meta.url);
const TEMPLATE = 'infra/k8s/subgraph.yaml.template';

export function readRepoFile(path: string): string | undefined {
  const url = new URL(path, ROOT);
  return existsSync(url) ? readFileSync(url, 'utf8') : undefined;
}

/** The default port (router PORT + position in SUBGRAPH_NAMES + 1), as every service computes it. */
const portOf = (name: InfraSubgraph['name']) => loadConfig({}).subgraphs[name].port;
/** Compose runs one instance per subgraph: its position in SUBGRAPH_NAMES + 1 is a stable, distinct worker id. */
const workerIdOf = (name: InfraSubgraph['name']) => SUBGRAPH_NAMES.indexOf(name) + 1;
const secretsOf = (s: InfraSubgraph) => Object.entries(s.secrets ?? {});
/** YAML double-quoted scalar (JSON strings are valid YAML). */
const quote = (text: string) => JSON.stringify(text);

/** The Kubernetes manifest of one subgraph: the template with its placeholders filled in. */
export function renderManifest(template: string, s: InfraSubgraph): string {
  const values: Record<string, string> = {
    name: s.name,
    Title: s.name[0]!.toUpperCase() + s.name.slice(1),
    summary: s.summary,
    port: String(portOf(s.name)),
    metricsPort: String(metricsPortOf(loadConfig({}), portOf(s.name))),
  };
  return (
    template
      // `{{secrets}}` stands alone on its line: one env entry per secret, at that line's indentation.
      .replace(/^( *)\{\{secrets\}\}\n/m, (_line, indent: string) =>
        secretsOf(s)
          .map(
            ([variable, key]) =>
              `${indent}- name: ${variable}\n${indent}  valueFrom: { secretKeyRef: { name: mall-${s.name}, key: ${key} } }\n`,
          )
          .join(''),
      )
      .replace(/\{\{(\w+)\}\}/g, (placeholder, key: string) => {
        const value = values[key];
        if (value === undefined) throw new Error(`${TEMPLATE}: unknown placeholder ${placeholder}`);
        return value;
      })
  );
}

/** A Markdown table with padded columns, as Biome formats it. */
function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

type Region = (subgraphs: readonly InfraSubgraph[], file: string) => string[];

/** Per file, the generated lines of each marked region (unindented: the begin marker's indentation is added). */
const REGION_FILES: Record<string, Record<string, Region>> = {
  'infra/k8s/kustomization.yaml': {
    subgraphs: (subgraphs) => subgraphs.map((s) => `- ${s.name}.yaml`),
  },
  'infra/k8s/configmap.yaml': {
    subgraphs: (subgraphs, file) => {
      // Each domain's role and database on the server of the hand-written DATABASE_URL.
      const server = /^ {2}DATABASE_URL: (\S+)$/m.exec(file)?.[1];
      if (!server) throw new Error('infra/k8s/configmap.yaml: no DATABASE_URL to put the domain databases on');
      return subgraphs.flatMap((s) => {
        const db = new URL(server);
        db.username = db.pathname = `mall_${s.name}`;
        const upper = s.name.toUpperCase();
        const port = portOf(s.name);
        return [
          `${upper}_PORT: "${port}"`,
          `${upper}_URL: http://${s.name}:${port}/graphql`,
          `${upper}_DATABASE_URL: ${db}`,
        ];
      });
    },
  },
  'infra/prometheus/alerts.yaml': {
    'subgraphs down': (subgraphs) =>
      subgraphs.flatMap((s) => [
        '- alert: MallServiceDown',
        `  expr: (sum(up{namespace="mall", app_kubernetes_io_name="${s.name}"}) or vector(0)) == 0`,
        '  for: 2m',
        `  labels: { severity: critical, app: ${s.name} }`,
        '  annotations:',
        `    summary: No ${s.name} subgraph instance is up`,
        `    description: ${quote(`Everything that needs ${s.name} fails (${s.summary}).`)}`,
      ]),
  },
  'docker-compose.yaml': {
    'subgraph addresses': (subgraphs) =>
      subgraphs.flatMap((s) => [
        `${s.name.toUpperCase()}_URL: http://${s.name}:${portOf(s.name)}/graphql`,
        `${s.name.toUpperCase()}_PORT: "${portOf(s.name)}"`,
      ]),
    'subgraph services': (subgraphs) =>
      subgraphs.flatMap((s, i) => [
        ...(i > 0 ? [''] : []),
        `${s.name}:`,
        '  <<: *service',
        '  environment:',
        '    <<: *env',
        `    MALL_WORKER_ID: "${workerIdOf(s.name)}"`,
        ...(secretsOf(s).length ? [`    # Least privilege: only ${s.name} is given these.`] : []),
        ...secretsOf(s).map(([variable]) => `    ${variable}: \${${variable}:?set ${variable}}`),
        `  command: ["node", "subgraphs/${s.name}/index.ts"]`,
      ]),
    'router depends_on': (subgraphs) => subgraphs.map((s) => `${s.name}: { condition: service_started }`),
  },
  Dockerfile: {
    subgraphs: (subgraphs) => subgraphs.map((s) => `COPY subgraphs/${s.name}/package.json subgraphs/${s.name}/`),
  },
  'infra/README.md': {
    subgraphs: (subgraphs) =>
      markdownTable(
        ['subgraph', 'manifest', 'Service', 'database and role', 'Secret `mall-<subgraph>`: key → variable'],
        subgraphs.map((s) => [
          s.name,
          `\`k8s/${s.name}.yaml\``,
          `\`${s.name}:${portOf(s.name)}\``,
          `\`mall_${s.name}\``,
          [...secretsOf(s), ['PGPASSWORD', 'db-password']].map(([v, k]) => `\`${k}\` → \`${v}\``).join(', '),
        ]),
      ),
    'secret commands': (subgraphs) =>
      subgraphs.map((s) => {
        const upper = s.name.toUpperCase();
        const literals = [...secretsOf(s), [`${upper}_DB_PASSWORD`, 'db-password']].map(
          ([v, k]) => `--from-literal=${k}="$${v}"`,
        );
        return `kubectl -n mall create secret generic mall-${s.name} ${literals.join(' ')}`;
      }),
    rollout: (subgraphs) => [
      `kubectl -n mall rollout status deploy/router ${subgraphs.map((s) => `sts/${s.name}`).join(' ')}`,
    ],
  },
};

/** Replaces the lines between each region's markers; throws when a marker is missing. */
function fillRegions(path: string, text: string, regions: Record<string, Region>, subgraphs: readonly InfraSubgraph[]) {
  let out = text;
  for (const [region, render] of Object.entries(regions)) {
    // The region name ends the marker or is followed by ` (…` or ` -->`, so `subgraphs` never finds `subgraphs down`.
    const name = `${region.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=$| \\(| -->)`;
    const pattern = new RegExp(
      `^( *)(.*>>> npm run infra: ${name}.*\\n)[\\s\\S]*?^( *.*<<< npm run infra: ${name})`,
      'm',
    );
    if (!pattern.test(out)) throw new Error(`${path}: no markers for region "${region}"`);
    out = out.replace(pattern, (_m, indent: string, begin: string, end: string) => {
      const lines = render(subgraphs, text).map((line) => (line ? indent + line : line));
      return `${indent}${begin}${lines.map((line) => `${line}\n`).join('')}${end}`;
    });
  }
  return out;
}

/** Every generated file's path (from the repository root) and its content, from the current files' text. */
export function renderInfra(
  subgraphs: readonly InfraSubgraph[] = SUBGRAPHS,
  read: (path: string) => string | undefined = readRepoFile,
): Map<string, string> {
  const template = read(TEMPLATE);
  if (template === undefined) throw new Error(`${TEMPLATE} is missing`);
  const files = new Map(subgraphs.map((s) => [`infra/k8s/${s.name}.yaml`, renderManifest(template, s)]));
  for (const [path, regions] of Object.entries(REGION_FILES)) {
    const text = read(path);
    if (text === undefined) throw new Error(`${path} is missing`);
    files.set(path, fillRegions(path, text, regions, subgraphs));
  }
  return files;
}

/** The paths whose content on disk differs from what `renderInfra` produces. */
export function staleFiles(files: ReadonlyMap<string, string>, read = readRepoFile): string[] {
  return [...files].filter(([path, content]) => read(path) !== content).map(([path]) => path);
}

if (import.meta.main) {
  const files = renderInfra();
  const stale = staleFiles(files);
  if (process.argv.includes('--check')) {
    for (const path of stale) console.error(`${path} is stale: run \`npm run infra\` and commit it.`);
    if (stale.length) process.exit(1);
    console.error('deployment files are up to date.');
  } else {
    for (const path of stale) writeFileSync(fileURLToPath(new URL(path, ROOT)), files.get(path)!);
    console.error(stale.length ? `wrote ${stale.join(', ')}` : 'deployment files are up to date.');
  }
}
