import { type Identity, ownsOrAdmin } from '@mall/platform/access';

/** A peer service (auth, later order, …) rather than the router speaking for an end user. */
export const isService = (identity: Identity): boolean => identity.issuer !== 'router';

/**
 * Who may see an account: its owner, an administrator, or a trusted peer service (the subgraph only accepts
 * tokens from the router and its configured peers). Everyone else must not learn that it exists.
 * @param isAdmin whether the caller is an ADMIN right now, not merely when its token was issued.
 */
export function canRead(identity: Identity, userId: bigint, isAdmin: boolean): boolean {
  return isService(identity) || ownsOrAdmin(identity, userId, isAdmin);
}
