// One trace from an HTTP request at the router to the Kafka consumer it caused: a customer deletes their
// account (router → user subgraph → user.events outbox row → relay → Kafka → auth's consumer), and every hop's
// span carries the trace id the router started; the client's own `traceparent` is only linked.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTracing, type Tracing } from '@mall/platform/tracing';
import { startTestStack, type TestStack } from '@mall/stack/testing';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { customer } from '../../subgraphs/order/test/helpers.ts';

const DELETE_USER = `mutation DeleteUser($id: ID!) { deleteUser(id: $id) }`;
// SpanKind values of @opentelemetry/api.
const SERVER = 1;
const CLIENT = 2;
const CONSUMER = 4;

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let stack: TestStack;

before(async () => {
  // Before the stack: servers choose their (traced or bare) handler when they are created.
  tracing = await startTracing({ serviceName: 'mall-test', exporter });
  stack = await startTestStack({ subgraphs: ['user', 'auth'] });
});

after(async () => {
  await stack?.close();
  await tracing?.shutdown();
});

/** Waits (bounded) for a span matching `match` to be exported. */
async function spanWhere(match: (span: ReadableSpan) => boolean, timeoutMs = 10_000): Promise<ReadableSpan> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await tracing.flush();
    const found = exporter.getFinishedSpans().find(match);
    if (found) return found;
    if (Date.now() > deadline) {
      const seen = exporter.getFinishedSpans().map((s) => `${s.name} ${s.spanContext().traceId}`);
      assert.fail(`no matching span within ${timeoutMs} ms; spans: ${seen.join(', ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('one trace id spans the router request, the subgraph fetch, the outbox → Kafka hop and the consumer', async () => {
  const user = await customer(stack);
  // The test's fetch is Node's undici, instrumented like the router's: its CLIENT span carries the trace onward.
  const { traceId: clientTraceId, response } = await trace.getTracer('test').startActiveSpan('client', async (span) => {
    try {
      const result = await stack.gql(DELETE_USER, { id: user.id }, { token: user.token });
      return { traceId: span.spanContext().traceId, response: result };
    } finally {
      span.end();
    }
  });
  assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));

  // The router is the public edge: it starts its own trace (a client must not pick our trace ids or force
  // sampling) and links the client's span.
  const edge = await spanWhere(
    (s) => s.kind === SERVER && s.links.some((link) => link.context.traceId === clientTraceId),
  );
  const traceId = edge.spanContext().traceId;
  assert.notEqual(traceId, clientTraceId);
  assert.equal(edge.parentSpanContext, undefined);

  const inTrace = (span: ReadableSpan) => span.spanContext().traceId === traceId;
  const consumer = await spanWhere(
    (s) => inTrace(s) && s.kind === CONSUMER && s.attributes['messaging.destination.name'] === 'user.events',
  );
  assert.equal(consumer.attributes['messaging.consumer.group.name'], 'auth');

  const spans = exporter.getFinishedSpans().filter(inTrace);
  const servers = spans.filter((s) => s.kind === SERVER && s.name === 'POST /graphql');
  // The router's span and the user subgraph's, a child of the router's undici fetch.
  assert.ok(servers.length >= 2, `server spans: ${servers.map((s) => s.name).join(', ')}`);
  const fetches = spans.filter((s) => s.kind === CLIENT);
  assert.ok(fetches.length >= 1, 'the router fetch to the subgraph is a CLIENT span in the same trace');
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  const subgraphServer = servers.find((s) => byId.get(s.parentSpanContext?.spanId ?? '')?.kind === CLIENT);
  assert.ok(subgraphServer, 'a subgraph SERVER span continues the CLIENT span the router sent');
  // The consumer's parent is the span that wrote the outbox row: the user subgraph's request.
  assert.equal(consumer.parentSpanContext?.spanId, subgraphServer.spanContext().spanId);
});
