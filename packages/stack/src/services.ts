import type { SubgraphName } from '@mall/platform';
import type { SubgraphModule } from '@mall/platform/kit';

/**
 * Every subgraph that exists, in start order: the one list the local stack, docker-compose.yaml and the
 * Kubernetes manifests (`npm run infra` generates both from it) are made from. A new subgraph is one line here.
 * `secrets` are its own secret variables (least privilege: no other service is given them), each read from
 * the Kubernetes Secret `mall-<name>` under the given key.
 */
export interface SubgraphEntry {
  readonly name: SubgraphName;
  /** One line of what it owns, for the generated manifests' header. */
  readonly summary: string;
  readonly load: () => Promise<SubgraphModule>;
  readonly secrets?: Readonly<Record<string, string>>;
}

export const SUBGRAPHS: readonly SubgraphEntry[] = [
  {
    name: 'user',
    summary: 'accounts, roles, password hashes; publishes user.events through its outbox relay',
    load: async () => (await import('@mall/subgraph-user')).default,
    secrets: { MALL_ADMIN_PASSWORD: 'admin-password' },
  },
  {
    name: 'auth',
    summary: 'sessions, refresh-token families, the JWKS; consumes user.events',
    load: async () => (await import('@mall/subgraph-auth')).default,
    secrets: { AUTH_JWT_PRIVATE_KEY: 'jwt-private-key' },
  },
  {
    name: 'product',
    summary:
      'catalog, categories, stock and reservations; publishes stock.events, consumes order.events and flashsale.events',
    load: async () => (await import('@mall/subgraph-product')).default,
  },
  {
    name: 'cart',
    summary: 'carts and their lines, priced from the live catalog; consumes order.events',
    load: async () => (await import('@mall/subgraph-cart')).default,
  },
  {
    name: 'order',
    summary: 'orders, their state machine and payment deadlines (BullMQ + sweep); publishes order.events',
    load: async () => (await import('@mall/subgraph-order')).default,
  },
  {
    name: 'payment',
    summary: 'payments, provider callbacks (sandbox, Alipay, WeChat Pay), refunds; publishes payment.events',
    load: async () => (await import('@mall/subgraph-payment')).default,
    secrets: {
      PAYMENT_WEBHOOK_SECRET: 'webhook-secret',
      ALIPAY_PRIVATE_KEY: 'alipay-private-key',
      WECHATPAY_PRIVATE_KEY: 'wechatpay-private-key',
      WECHATPAY_API_V3_KEY: 'wechatpay-api-v3-key',
    },
  },
  {
    name: 'flashsale',
    summary:
      'flash sales: Redis Lua buys, sold-count guard, settlement; publishes flashsale.events, consumes order.events',
    load: async () => (await import('@mall/subgraph-flashsale')).default,
  },
  {
    name: 'checkout',
    summary: 'the checkout saga (cart → prices → reservation → order), idempotency keys and crash repair',
    load: async () => (await import('@mall/subgraph-checkout')).default,
  },
];

export const AVAILABLE_SUBGRAPHS: readonly SubgraphName[] = SUBGRAPHS.map((s) => s.name);
