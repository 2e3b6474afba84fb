/**
 * Trace context through the outbox and Kafka. Off (a `tracer === undefined` check and nothing else) until the
 * platform's `startTracing` hands a tracer over, so a service without OTEL_EXPORTER_OTLP_ENDPOINT pays nothing
 * per event. Only the API is imported here, never the SDK: the SDK is loaded by the platform when enabled.
 */
import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import type { IHeaders } from 'kafkajs';

let tracer: Tracer | undefined;

/** Called by the platform's tracing setup; `undefined` turns event tracing off again (tests). */
export function setEventTracer(next: Tracer | undefined): void {
  tracer = next;
}

/**
 * The W3C trace context (`traceparent`, `tracestate`) of the active span, stored with the outbox row so the
 * relay publishes it as Kafka headers; undefined when tracing is off or no span is active.
 */
export function currentTraceHeaders(): Record<string, string> | undefined {
  if (!tracer) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ? carrier : undefined;
}

// Kafka header values arrive as Buffers (or arrays of them when a key repeats).
const kafkaHeaderGetter: TextMapGetter<IHeaders | undefined> = {
  keys: (carrier) => (carrier ? Object.keys(carrier) : []),
  get: (carrier, key) => {
    const value = carrier?.[key];
    if (value === undefined) return undefined;
    const first = Array.isArray(value) ? value[0] : value;
    return first === undefined ? undefined : first.toString();
  },
};

/**
 * Runs a consumer's handling of one message inside a CONSUMER span that continues the producer's trace
 * (the `traceparent` header the relay copied from the outbox row); just `run()` when tracing is off.
 */
export function withConsumerSpan<T>(
  consumer: string,
  topic: string,
  headers: IHeaders | undefined,
  run: () => Promise<T>,
): Promise<T> {
  if (!tracer) return run();
  const parent: Context = propagation.extract(ROOT_CONTEXT, headers, kafkaHeaderGetter);
  return tracer.startActiveSpan(
    `process ${topic}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'kafka',
        'messaging.operation.type': 'process',
        'messaging.destination.name': topic,
        'messaging.consumer.group.name': consumer,
      },
    },
    parent,
    async (span) => {
      try {
        return await run();
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}
