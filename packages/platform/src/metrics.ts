import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** One registry per service, labelled with its name, so services sharing a dev process keep separate metrics. */
export function createMetricsRegistry(service: string, options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

const MAX_OPERATION_LABELS = 500;

/** Counts and times GraphQL operations by name (at most MAX_OPERATION_LABELS distinct) and outcome. */
export function graphqlMetricsPlugin<TContext extends BaseContext>(registry: Registry): ApolloServerPlugin<TContext> {
  return graphqlOperationMetrics<TContext>(registry).plugin;
}

/**
 * The GraphQL operation metrics: the Apollo plugin that records them, and `record` for an operation answered
 * without Apollo's pipeline (the router's passthrough), into the same series.
 */
export function graphqlOperationMetrics<TContext extends BaseContext>(
  registry: Registry,
): {
  plugin: ApolloServerPlugin<TContext>;
  record(operationName: string | null, type: string, outcome: 'ok' | 'error', seconds: number): void;
} {
  const requests = new Counter({
    name: 'graphql_requests_total',
    help: 'GraphQL operations handled, by operation name, type and outcome',
    labelNames: ['operation', 'type', 'outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'graphql_request_duration_seconds',
    help: 'GraphQL operation latency',
    labelNames: ['operation', 'type'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  // Operation names are the client's choice: past this many distinct ones, new names count as `other`, so a
  // client cycling through random names cannot grow the registry (and every scrape) without bound.
  const known = new Set<string>();
  const labelOf = (name: string | null | undefined): string => {
    const label = (name ?? 'anonymous').slice(0, 64);
    if (known.has(label)) return label;
    if (known.size >= MAX_OPERATION_LABELS) return 'other';
    known.add(label);
    return label;
  };
  return {
    plugin: {
      async requestDidStart() {
        const end = duration.startTimer();
        return {
          async willSendResponse({ operationName, operation, errors }) {
            const labels = {
              operation: labelOf(operationName),
              type: operation?.operation ?? 'unknown',
            };
            end(labels);
            requests.inc({ ...labels, outcome: errors?.length ? 'error' : 'ok' });
          },
        };
      },
    },
    record(operationName, type, outcome, seconds) {
      const labels = { operation: labelOf(operationName), type };
      duration.observe(labels, seconds);
      requests.inc({ ...labels, outcome });
    },
  };
}
