import type { SubgraphContext } from '@mall/platform';
import type { AuthService } from './service.ts';

export interface AuthContext extends SubgraphContext {
  readonly auth: AuthService;
}
