// Tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT) must cost nothing: no SDK started, servers keep their handler,
// the outbox writes no trace headers.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test } from 'node:test';
import { currentTraceHeaders } from '@mall/events';
import { loadConfig } from '../src/config.ts';
import { startTracingFromConfig, traceHttpServer, tracingConfig } from '../src/tracing.ts';

test('without an endpoint nothing starts, and servers keep the very handler they were given', async () => {
  const config = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '' }, [tracingConfig]);
  assert.equal(await startTracingFromConfig(config, 'user'), null);
  const handler = (_req: IncomingMessage, _res: ServerResponse) => undefined;
  assert.equal(traceHttpServer(handler), handler);
  assert.equal(currentTraceHeaders(), undefined);
});

test('a malformed endpoint is a configuration error, reported with the rest', () => {
  assert.throws(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, [tracingConfig]), /OTEL_EXPORTER/);
  assert.throws(() => loadConfig({ OTEL_TRACES_SAMPLER_ARG: '2' }, [tracingConfig]), /OTEL_TRACES_SAMPLER_ARG/);
});
