import type { SubgraphContext } from '@mall/platform';
import type { RequestScope, UserService } from './service.ts';

export interface UserContext extends SubgraphContext, RequestScope {
  readonly users: UserService;
}

/** Per request: a fresh DataLoader, so batching and caching never cross requests (or callers). */
export function createContext(users: UserService) {
  return (base: SubgraphContext): UserContext => ({ ...base, users, userById: users.createLoader() });
}
