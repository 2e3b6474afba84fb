// `npm run infra` (scripts/infra.ts) writes every deployment line that names a subgraph from SUBGRAPHS. These
// tests fail when the checked-in output is stale, and show that one more entry is all a new subgraph needs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { type InfraSubgraph, readRepoFile, renderInfra, staleFiles } from '../../../scripts/infra.ts';
import { SUBGRAPHS } from '../src/index.ts';

// The last of SUBGRAPH_NAMES, as a new entry: taken out of the list first (it is in it now), then added back
// with a summary and a secret of its own, so the test shows what one more entry does whatever the list holds.
const withoutFlashsale = SUBGRAPHS.filter((s) => s.name !== 'flashsale');
const flashsale: InfraSubgraph = {
  name: 'flashsale',
  summary: 'the flash sales',
  secrets: { FLASHSALE_SIGNING_KEY: 'signing-key' },
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
    const files = renderInfra([...withoutFlashsale, flashsale]);
    const [workload, service, pdb] = parseAllDocuments(files.get('infra/k8s/flashsale.yaml')!).map((d) => d.toJS());
    assert.match(files.get('infra/k8s/flashsale.yaml')!, /^# Flashsale subgraph: the flash sales\.\n/);
    assert.equal(workload.kind, 'StatefulSet');
    const container = workload.spec.template.spec.containers[0];
    assert.deepEqual(container.command, ['node', 'subgraphs/flashsale/index.ts']);
    assert.equal(container.ports[0].containerPort, 4008, 'PORT + its position in SUBGRAPH_NAMES + 1');
    assert.equal(container.ports[1].containerPort, 5008, 'metrics: its port + METRICS_PORT_OFFSET');
    assert.equal(workload.spec.template.metadata.annotations['prometheus.io/port'], '5008');
    assert.deepEqual(
      container.env.filter((e: any) => e.valueFrom?.secretKeyRef).map((e: any) => [e.name, e.valueFrom.secretKeyRef]),
      [
        ['MALL_INTERNAL_SECRET', { name: 'mall-internal', key: 'internal-secret' }],
        ['FLASHSALE_SIGNING_KEY', { name: 'mall-flashsale', key: 'signing-key' }],
        ['PGPASSWORD', { name: 'mall-flashsale', key: 'db-password' }],
      ],
    );
    assert.deepEqual([service.kind, service.spec.ports[0].port, pdb.kind], ['Service', 4008, 'PodDisruptionBudget']);

    assert.ok(parse(files.get('infra/k8s/kustomization.yaml')!).resources.includes('flashsale.yaml'));
    assert.deepEqual(
      Object.entries(parse(files.get('infra/k8s/configmap.yaml')!).data).filter(([k]) => k.startsWith('FLASHSALE_')),
      [
        ['FLASHSALE_PORT', '4008'],
        ['FLASHSALE_URL', 'http://flashsale:4008/graphql'],
        [
          'FLASHSALE_DATABASE_URL',
          'postgresql://mall_flashsale@postgres.mall-data.svc.cluster.local:5432/mall_flashsale',
        ],
      ],
    );
    const compose = parse(files.get('docker-compose.yaml')!, { merge: true });
    assert.deepEqual(compose.services.flashsale.command, ['node', 'subgraphs/flashsale/index.ts']);
    assert.equal(compose.services.flashsale.environment.MALL_WORKER_ID, '8');
    assert.match(compose.services.flashsale.environment.FLASHSALE_SIGNING_KEY, /^\$\{FLASHSALE_SIGNING_KEY:\?set /);
    assert.equal(compose.services.auth.environment.FLASHSALE_URL, 'http://flashsale:4008/graphql');
    assert.ok('flashsale' in compose.services.router.depends_on);
    assert.match(files.get('Dockerfile')!, /^COPY subgraphs\/flashsale\/package\.json subgraphs\/flashsale\/$/m);
    assert.match(files.get('infra/prometheus/alerts.yaml')!, /app_kubernetes_io_name="flashsale"/);
    assert.match(files.get('infra/README.md')!, /mall-flashsale --from-literal=signing-key=/);
  });

  it('names the file whose markers are missing', () => {
    const read = (path: string) => (path === 'Dockerfile' ? 'FROM node:24\n' : readRepoFile(path));
    assert.throws(() => renderInfra(SUBGRAPHS, read), /Dockerfile: no markers for region "subgraphs"/);
  });
});
