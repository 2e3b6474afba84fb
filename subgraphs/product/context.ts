import type { RequestScope } from '@mall/platform';
import type { InventoryService } from './inventory.ts';
import type { CatalogService, ProductScope } from './service.ts';

export interface ProductContext extends ProductScope {
  readonly catalog: CatalogService;
  readonly inventory: InventoryService;
}

/** Per request: fresh DataLoaders, so batching and caching never cross requests (or callers). */
export function createContext(catalog: CatalogService, inventory: InventoryService) {
  return (base: RequestScope): ProductContext => ({ ...base, catalog, inventory, ...catalog.createLoaders() });
}
