/**
 * OpenTelemetry traces, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set. Off, nothing of the SDK is loaded
 * (this module imports the API alone, and the SDK packages are imported inside `startTracing`) and no request
 * does any tracing work: `traceHttpServer` hands back the very handler it was given, and the outbox and
 * consumer hooks in @mall/events are a single `undefined` check.
 *
 * On, one trace follows a request across the services:
 *   router SERVER span (incoming `traceparent` honoured) → subgraph fetch (undici CLIENT span, which injects
 *   `traceparent`; instrumentation-undici listens on diagnostics_channel, so the npm undici the gateway uses is
 *   covered too) → subgraph SERVER span → outbox row (`headers` column: the W3C context of the writing span)
 *   → Kafka message headers (the relay publishes the row's headers) → CONSUMER span around the handler.
 *
 * `runMain` starts it for a service run as its own process; a test stack starts it itself with an in-memory
 * exporter (`startTracing({ exporter })`) before starting the services, since servers pick their handler once.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { z } from 'zod';
import { type Config, configSection, defineConfig } from './config.ts';

/** The standard OTel variables this platform reads (same names as every OTel SDK, so operators know them). */
export const tracingConfig = defineConfig(
  'tracing',
  z
    .object({
      OTEL_EXPORTER_OTLP_ENDPOINT: z
        .string()
        .optional()
        .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()))
        .pipe(z.url({ protocol: /^https?$/ }).optional()),
      OTEL_SERVICE_NAME: z
        .string()
        .optional()
        .transform((v) => (v?.trim() ? v.trim() : undefined)),
      // Fraction of new traces kept (a request arriving with a sampled `traceparent` is always kept).
      OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
    })
    .transform((e) => ({
      /** OTLP/HTTP base URL (traces go to `<endpoint>/v1/traces`); undefined: tracing off. */
      endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
      serviceName: e.OTEL_SERVICE_NAME,
      sampleRatio: e.OTEL_TRACES_SAMPLER_ARG,
    })),
);

/** What `startTracing` exports to: the OTLP endpoint, or an exporter object (tests: `InMemorySpanExporter`). */
export interface StartTracingOptions {
  readonly serviceName: string;
  readonly endpoint?: string;
  /** Spans go to it one by one (no batching): for tests. */
  readonly exporter?: SpanExporter;
  readonly sampleRatio?: number;
}

export interface Tracing {
  /** Flushes what is buffered and turns tracing off again. */
  shutdown(): Promise<void>;
  /** Exports every ended span now (tests read the in-memory exporter after this). */
  flush(): Promise<void>;
}

let tracer: Tracer | undefined;

/**
 * Starts tracing from the `tracing` config section; null (and nothing loaded) when no endpoint is set, or when
 * this process already traces (a test that started its own in-memory tracing before its stack).
 */
export function startTracingFromConfig(config: Config, defaultServiceName: string): Promise<Tracing | null> {
  const settings = configSection(config, tracingConfig);
  if (!settings.endpoint || tracer) return Promise.resolve(null);
  return startTracing({
    serviceName: settings.serviceName ?? `mall-${defaultServiceName}`,
    endpoint: settings.endpoint,
    sampleRatio: settings.sampleRatio,
  });
}

/** Registers the process-wide tracer provider, W3C propagator, context manager and undici instrumentation. */
export async function startTracing(options: StartTracingOptions): Promise<Tracing> {
  if (tracer) throw new Error('tracing is already started in this process');
  // @mall/events too: it loads kafkajs, which a service importing only the platform's HTTP parts does not need.
  const [sdk, asyncHooks, core, resources, undici, events] = await Promise.all([
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/instrumentation-undici'),
    import('@mall/events'),
  ]);
  let processor: InstanceType<typeof sdk.SimpleSpanProcessor> | InstanceType<typeof sdk.BatchSpanProcessor>;
  if (options.exporter) {
    processor = new sdk.SimpleSpanProcessor({ exporter: options.exporter });
  } else {
    if (!options.endpoint) throw new Error('startTracing needs an endpoint or an exporter');
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    const url = `${options.endpoint.replace(/\/+$/, '')}/v1/traces`;
    processor = new sdk.BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url }) });
  }
  const provider = new sdk.TracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': options.serviceName }),
    sampler: new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(options.sampleRatio ?? 1) }),
    spanProcessors: [processor],
  });
  const contextManager = new asyncHooks.AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new core.W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  const instrumentation = new undici.UndiciInstrumentation();
  instrumentation.setTracerProvider(provider);
  instrumentation.enable();

  tracer = provider.getTracer('@mall/platform');
  events.setEventTracer(provider.getTracer('@mall/events'));
  return {
    flush: () => provider.forceFlush(),
    async shutdown() {
      instrumentation.disable();
      events.setEventTracer(undefined);
      tracer = undefined;
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

const headerGetter: TextMapGetter<IncomingMessage['headers']> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The handler with a SERVER span around each request when tracing is on: it continues an incoming
 * `traceparent` (from the router or a peer), or, at the public edge, starts a trace that only links it. The
 * handler itself, untouched, when tracing is off. Decided once, when the server is created.
 */
export function traceHttpServer(handler: Handler, options: { readonly publicEdge?: boolean } = {}): Handler {
  const active = tracer;
  if (!active) return handler;
  return (req, res) => {
    const incoming = propagation.extract(ROOT_CONTEXT, req.headers, headerGetter);
    // At the public edge the client's context is only linked: its sampled flag must not decide our sampling.
    const claimed = options.publicEdge ? trace.getSpanContext(incoming) : undefined;
    const parent = options.publicEdge ? ROOT_CONTEXT : incoming;
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    // Probes hit every few seconds and cause nothing downstream: spans for them would only be noise.
    if (path.startsWith('/health/')) return handler(req, res);
    const span = active.startSpan(
      `${req.method ?? 'GET'} ${path}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': req.method ?? 'GET', 'url.path': path },
        ...(claimed && trace.isSpanContextValid(claimed) ? { links: [{ context: claimed }] } : {}),
      },
      parent,
    );
    res.once('close', () => {
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(parent, span), () => handler(req, res));
  };
}
