import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Router-specific counters; the GraphQL request metrics come from the platform plugin on the same registry. */
export interface RouterMetrics {
  readonly authFailures: Counter<'reason'>;
  readonly rateLimited: Counter<'scope'>;
  readonly activeSubscriptions: Gauge;
  readonly subgraphFetch: Histogram<'subgraph' | 'outcome'>;
  readonly subgraphFetchShared: Counter<'subgraph'>;
  readonly passthrough: Counter<'outcome'>;
}

export function createRouterMetrics(registry: Registry): RouterMetrics {
  return {
    authFailures: new Counter({
      name: 'router_auth_failures_total',
      help: 'Requests refused as UNAUTHENTICATED, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'router_rate_limited_total',
      help: 'Requests refused as RATE_LIMITED, by limit (ip or user)',
      labelNames: ['scope'] as const,
      registers: [registry],
    }),
    activeSubscriptions: new Gauge({
      name: 'router_active_subscriptions',
      help: 'Subscriptions currently open over graphql-ws',
      registers: [registry],
    }),
    subgraphFetch: new Histogram({
      name: 'router_subgraph_fetch_duration_seconds',
      help: 'Subgraph fetches of query plans, by subgraph and outcome (ok, error: a transport failure or non-2xx)',
      labelNames: ['subgraph', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    subgraphFetchShared: new Counter({
      name: 'router_subgraph_fetch_shared_total',
      help: 'Subgraph fetches answered by an identical fetch of the same caller already in flight (not sent again)',
      labelNames: ['subgraph'] as const,
      registers: [registry],
    }),
    passthrough: new Counter({
      name: 'router_passthrough_total',
      help: 'Learned single-fetch queries: answered with the subgraph’s bytes (served) or left to Apollo (full_path)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
  };
}
