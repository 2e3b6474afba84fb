import type { RequestScope } from '@mall/platform';
import type { FlashSaleService } from './service.ts';

export interface FlashSaleContext extends RequestScope {
  readonly flashSales: FlashSaleService;
}

export function createContext(flashSales: FlashSaleService) {
  return (base: RequestScope): FlashSaleContext => ({ ...base, flashSales });
}
