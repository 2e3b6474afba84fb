import type { RequestScope } from '@mall/platform';
import type { AuthService } from './service.ts';

export interface AuthContext extends RequestScope {
  readonly auth: AuthService;
}
