import type { RequestScope } from '@mall/platform';
import type { AuthService } from './service.ts';

export interface AuthContext extends RequestScope {
  readonly auth: AuthService;
}

/** Per request: the request scope plus the (stateless) service. */
export function createContext(auth: AuthService) {
  return (scope: RequestScope): AuthContext => ({ ...scope, auth });
}
