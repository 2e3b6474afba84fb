// The subgraph kit as a running service sees it: every subgraph reports its database, Redis and Kafka in
// readiness, shows its event pipeline on /metrics, and a second instance can start beside the first.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger, resolveInternalSecret } from '@mall/platform';
import { SUBGRAPHS } from '../src/services.ts';
import { startTestStack, type TestStack } from '../src/testing.ts';

describe('subgraphs on the kit', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack();
  });
  after(() => stack?.close());

  it('report database, Redis and Kafka in readiness, and their pipeline on /metrics', async () => {
    for (const { name } of SUBGRAPHS) {
      const url = stack.subgraphUrls[name];
      assert.ok(url, `${name} runs`);
      const ready = await fetch(`${url}/health/ready`);
      assert.equal(ready.status, 200, name);
      const body = (await ready.json()) as { checks: Record<string, string> };
      assert.deepEqual(
        Object.keys(body.checks)
          .filter((c) => ['database', 'redis', 'kafka'].includes(c))
          .sort(),
        ['database', 'kafka', 'redis'],
        `${name} checks its dependencies`,
      );
      assert.ok(
        Object.values(body.checks).every((v) => v === 'ok'),
        `${name}: ${JSON.stringify(body.checks)}`,
      );
      const metrics = await (await fetch(stack.metricsUrls[name]!)).text();
      assert.match(metrics, /graphql_/, `${name} serves its GraphQL metrics`);
      assert.equal((await fetch(`${url}/metrics`)).status, 404, `${name} keeps metrics off its service port`);
    }
    // The relay of a producer and the consumer of a consumer share their service's registry.
    assert.match(await (await fetch(stack.metricsUrls['user']!)).text(), /outbox_pending_events/);
    assert.match(await (await fetch(stack.metricsUrls['auth']!)).text(), /events_consumed_total/);
  });

  it('starts a second instance of a subgraph on the same database, and stops it cleanly', async () => {
    const entry = SUBGRAPHS.find((s) => s.name === 'user');
    assert.ok(entry);
    const subgraph = await entry.load();
    const second = await subgraph.start(
      {
        config: stack.config,
        logger: createLogger({ service: 'user-2', level: 'silent' }),
        internalSecret: await resolveInternalSecret(stack.config),
        redis: stack.redis,
      },
      { port: 0 },
    );
    try {
      assert.equal((await fetch(`${second.url}/health/ready`)).status, 200);
    } finally {
      await second.stop();
    }
    await assert.rejects(fetch(`${second.url}/health/live`));
  });
});
