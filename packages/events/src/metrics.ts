import {
  Counter,
  type CounterConfiguration,
  Gauge,
  type GaugeConfiguration,
  Histogram,
  type HistogramConfiguration,
  type Registry,
} from 'prom-client';

/*
 * Metrics are created once per registry: a service may run several relays or consumers on one registry (and
 * tests start many), and prom-client throws on a second metric of the same name. Later instances reuse the
 * first one's metric, so their series add up under the same labels.
 */
function counter<L extends string>(registry: Registry, config: Omit<CounterConfiguration<L>, 'registers'>): Counter<L> {
  return (
    (registry.getSingleMetric(config.name) as Counter<L> | undefined) ??
    new Counter<L>({ ...config, registers: [registry] })
  );
}

function gauge<L extends string>(registry: Registry, config: Omit<GaugeConfiguration<L>, 'registers'>): Gauge<L> {
  return (
    (registry.getSingleMetric(config.name) as Gauge<L> | undefined) ??
    new Gauge<L>({ ...config, registers: [registry] })
  );
}

function histogram<L extends string>(
  registry: Registry,
  config: Omit<HistogramConfiguration<L>, 'registers'>,
): Histogram<L> {
  return (
    (registry.getSingleMetric(config.name) as Histogram<L> | undefined) ??
    new Histogram<L>({ ...config, registers: [registry] })
  );
}

export interface RelayMetrics {
  readonly published: Counter<'topic'>;
  readonly failures: Counter<'topic'>;
  readonly pending: Gauge;
  readonly oldestPendingSeconds: Gauge;
}

export function relayMetrics(registry: Registry): RelayMetrics {
  return {
    published: counter(registry, {
      name: 'outbox_events_published_total',
      help: 'Outbox events the relay published to Kafka (a republish after a crash counts again)',
      labelNames: ['topic'] as const,
    }),
    failures: counter(registry, {
      name: 'outbox_publish_failures_total',
      help: 'Outbox events whose publish attempt failed and were put back with a backoff (each retry counts again)',
      labelNames: ['topic'] as const,
    }),
    pending: gauge(registry, {
      name: 'outbox_pending_events',
      help: 'Unpublished outbox rows, backing-off ones included, as of the last check',
    }),
    oldestPendingSeconds: gauge(registry, {
      name: 'outbox_oldest_pending_seconds',
      help: 'Age of the oldest unpublished outbox row as of the last check; 0 when none is pending',
    }),
  };
}

export interface ConsumerMetrics {
  readonly consumed: Counter<'consumer' | 'type' | 'outcome'>;
  readonly handlerDuration: Histogram<'consumer' | 'type'>;
  readonly deadLettered: Counter<'consumer' | 'topic'>;
}

export function consumerMetrics(registry: Registry): ConsumerMetrics {
  return {
    consumed: counter(registry, {
      name: 'events_consumed_total',
      help: 'Events finished by a consumer, by event type and outcome (processed, duplicate, skipped, dead-lettered)',
      labelNames: ['consumer', 'type', 'outcome'] as const,
    }),
    handlerDuration: histogram(registry, {
      name: 'event_handler_duration_seconds',
      help: 'One handler attempt including its transaction (failed attempts too)',
      labelNames: ['consumer', 'type'] as const,
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
    deadLettered: counter(registry, {
      name: 'events_dead_lettered_total',
      help: 'Messages a consumer copied to <topic>.dlq, by original topic',
      labelNames: ['consumer', 'topic'] as const,
    }),
  };
}
