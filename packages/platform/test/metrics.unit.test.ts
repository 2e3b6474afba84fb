import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMetricsRegistry, graphqlMetricsPlugin } from '../src/metrics.ts';

test('operation names are labels up to a bound; a client cycling random names cannot grow the registry', async () => {
  const registry = createMetricsRegistry('metrics-test', { defaultMetrics: false });
  const plugin = graphqlMetricsPlugin(registry);
  const run = async (operationName: string) => {
    const hooks = await plugin.requestDidStart!({} as never);
    await hooks!.willSendResponse!({ operationName, operation: { operation: 'query' }, errors: undefined } as never);
  };
  for (let i = 0; i < 2_000; i++) await run(`Probe${i}`);
  await run('Probe0');
  const { values } = (await registry.getSingleMetric('graphql_requests_total')!.get()) as {
    values: { labels: Record<string, string>; value: number }[];
  };
  const names = new Set(values.map((v) => v.labels['operation']));
  assert.equal(names.size, 501);
  assert.equal(values.find((v) => v.labels['operation'] === 'other')?.value, 1_500);
  assert.equal(values.find((v) => v.labels['operation'] === 'Probe0')?.value, 2);
});
