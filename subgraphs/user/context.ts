import type { RequestScope } from '@mall/platform';
import type { UserScope, UserService } from './service.ts';

export interface UserContext extends UserScope {
  readonly users: UserService;
}

/** Per request: a fresh DataLoader, so batching and caching never cross requests (or callers). */
export function createContext(users: UserService) {
  return (base: RequestScope): UserContext => ({ ...base, users, userById: users.createLoader() });
}
