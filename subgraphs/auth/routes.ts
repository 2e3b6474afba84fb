import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '@mall/platform';
import type { SigningKeys } from './data/signing-keys.ts';

export const JWKS_PATH = '/.well-known/jwks.json';

/**
 * Verifiers may cache the set for five minutes: a rotation publishes the new key before it signs anything
 * (jose's remote JWKS also refetches on an unknown `kid`), and a retired key stays listed for longer than
 * its tokens live.
 */
const CACHE_CONTROL = 'public, max-age=300, stale-while-revalidate=60';

/** The `routes` handler for startSubgraph: serves the JWKS, leaves every other path alone. */
export function jwksRoute(keys: SigningKeys) {
  const body = { keys: keys.jwks.keys };
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    if (url.pathname !== JWKS_PATH) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
      return true;
    }
    sendJson(res, 200, body, { 'content-type': 'application/jwk-set+json', 'cache-control': CACHE_CONTROL });
    return true;
  };
}
