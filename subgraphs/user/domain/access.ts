import { hasRole, type Identity } from '@mall/platform';

/** A peer service (auth, later order, …) rather than the router speaking for an end user. */
export const isService = (identity: Identity): boolean => identity.issuer !== 'router';

/**
 * Who may see an account: its owner, an ADMIN, or a trusted peer service (the subgraph only accepts tokens
 * from the router and its configured peers). Everyone else must not learn that it exists.
 */
export function canRead(identity: Identity, userId: bigint): boolean {
  return isService(identity) || identity.userId === String(userId) || hasRole(identity, 'ADMIN');
}
