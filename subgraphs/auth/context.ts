import type { SubgraphContext } from '@mall/platform';
import type { AuthService } from './domain/auth-service.ts';

export interface AuthContext extends SubgraphContext {
  readonly auth: AuthService;
}
