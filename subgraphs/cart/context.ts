import type { RequestScope } from '@mall/platform';
import type { CartScope, CartService } from './service.ts';

export interface CartContext extends CartScope {
  readonly carts: CartService;
}

/** Per request: a fresh DataLoader, so batching and caching never cross requests (or callers). */
export function createContext(carts: CartService) {
  return (base: RequestScope): CartContext => ({ ...base, carts, productById: carts.createLoader(base) });
}
