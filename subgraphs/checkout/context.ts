import type { RequestScope } from '@mall/platform';
import type { CheckoutScope, CheckoutService } from './service.ts';

export interface CheckoutContext extends CheckoutScope {
  readonly checkouts: CheckoutService;
}

export function createContext(checkouts: CheckoutService) {
  return (base: RequestScope): CheckoutContext => ({ ...base, checkouts });
}
