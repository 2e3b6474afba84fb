import { Counter, Gauge, type Registry } from 'prom-client';

/** Router-specific counters; the GraphQL request metrics come from the platform plugin on the same registry. */
export interface RouterMetrics {
  readonly authFailures: Counter<'reason'>;
  readonly rateLimited: Counter<'scope'>;
  readonly activeSubscriptions: Gauge;
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
  };
}
