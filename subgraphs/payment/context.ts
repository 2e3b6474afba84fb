import type { RequestScope } from '@mall/platform';
import type { PaymentScope, PaymentService } from './service.ts';

export interface PaymentContext extends PaymentScope {
  readonly payments: PaymentService;
}

/** Per request: fresh DataLoaders, so batching and caching never cross requests (or callers). */
export function createContext(payments: PaymentService) {
  return (base: RequestScope): PaymentContext => ({ ...base, payments, ...payments.createLoaders() });
}
