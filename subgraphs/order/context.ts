import type { RequestScope } from '@mall/platform';
import type { OrderScope, OrderService } from './service.ts';

export interface OrderContext extends OrderScope {
  readonly orders: OrderService;
}

/** Per request: a fresh DataLoader, so batching and caching never cross requests (or callers). */
export function createContext(orders: OrderService) {
  return (base: RequestScope): OrderContext => ({ ...base, orders, orderById: orders.createLoader() });
}
