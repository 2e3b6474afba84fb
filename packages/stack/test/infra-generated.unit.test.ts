// `npm run infra` (scripts/infra.ts) writes every deployment line that names a subgraph from SUBGRAPHS. These
// tests fail when the checked-in output is stale, and show that one more entry is all a new subgraph needs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { type InfraSubgraph, readRepoFile, renderInfra, staleFiles } from '../../../scripts/infra.ts';
import { SUBGRAPHS } from '../src/index.ts';

const product: InfraSubgraph = {
  name: 'product',
  summary: 'the catalogue',
  secrets: { PRODUCT_SEARCH_TOKEN: 'search-token' },
};

describe('npm run infra', () => {
  it('has written the checked-in files from SUBGRAPHS (run `npm run infra` when this fails)', () => {
    assert.deepEqual(staleFiles(renderInfra()), []);
  });

  it('changes nothing when run on its own output', () => {
    const files = renderInfra();
    assert.deepEqual(
      renderInfra(SUBGRAPHS, (path) => files.get(path) ?? readRepoFile(path)),
      files,
    );
  });

  it('deploys a subgraph added to the list everywhere, on its own port and worker id', () => {
    const files = renderInfra([...SUBGRAPHS, product]);
    const [workload, service, pdb] = parseAllDocuments(files.get('infra/k8s/product.yaml')!).map((d) => d.toJS());
    assert.match(files.get('infra/k8s/product.yaml')!, /^# Product subgraph: the catalogue\.\n/);
    assert.equal(workload.kind, 'StatefulSet');
    const container = workload.spec.template.spec.containers[0];
    assert.deepEqual(container.command, ['node', 'subgraphs/product/index.ts']);
    assert.equal(container.ports[0].containerPort, 4003, 'PORT + its position in SUBGRAPH_NAMES + 1');
    assert.equal(container.ports[1].containerPort, 5003, 'metrics: its port + METRICS_PORT_OFFSET');
    assert.equal(workload.spec.template.metadata.annotations['prometheus.io/port'], '5003');
    assert.deepEqual(
      container.env.filter((e: any) => e.valueFrom?.secretKeyRef).map((e: any) => [e.name, e.valueFrom.secretKeyRef]),
      [
        ['MALL_INTERNAL_SECRET', { name: 'mall-internal', key: 'internal-secret' }],
        ['PRODUCT_SEARCH_TOKEN', { name: 'mall-product', key: 'search-token' }],
        ['PGPASSWORD', { name: 'mall-product', key: 'db-password' }],
      ],
    );
    assert.deepEqual([service.kind, service.spec.ports[0].port, pdb.kind], ['Service', 4003, 'PodDisruptionBudget']);

    assert.ok(parse(files.get('infra/k8s/kustomization.yaml')!).resources.includes('product.yaml'));
    assert.deepEqual(
      Object.entries(parse(files.get('infra/k8s/configmap.yaml')!).data).filter(([k]) => k.startsWith('PRODUCT_')),
      [
        ['PRODUCT_PORT', '4003'],
        ['PRODUCT_URL', 'http://product:4003/graphql'],
        ['PRODUCT_DATABASE_URL', 'postgresql://mall_product@postgres.mall-data.svc.cluster.local:5432/mall_product'],
      ],
    );
    const compose = parse(files.get('docker-compose.yaml')!, { merge: true });
    assert.deepEqual(compose.services.product.command, ['node', 'subgraphs/product/index.ts']);
    assert.equal(compose.services.product.environment.MALL_WORKER_ID, '3');
    assert.match(compose.services.product.environment.PRODUCT_SEARCH_TOKEN, /^\$\{PRODUCT_SEARCH_TOKEN:\?set /);
    assert.equal(compose.services.auth.environment.PRODUCT_URL, 'http://product:4003/graphql');
    assert.ok('product' in compose.services.router.depends_on);
    assert.match(files.get('Dockerfile')!, /^COPY subgraphs\/product\/package\.json subgraphs\/product\/$/m);
    assert.match(files.get('infra/prometheus/alerts.yaml')!, /app_kubernetes_io_name="product"/);
    assert.match(files.get('infra/README.md')!, /mall-product --from-literal=search-token=/);
  });

  it('names the file whose markers are missing', () => {
    const read = (path: string) => (path === 'Dockerfile' ? 'FROM node:24\n' : readRepoFile(path));
    assert.throws(() => renderInfra(SUBGRAPHS, read), /Dockerfile: no markers for region "subgraphs"/);
  });
});
