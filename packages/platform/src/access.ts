/**
 * Who is calling and what they may do: pure types and checks, safe for `domain/` (no I/O, no token code).
 * Identity tokens themselves are signed and verified in `identity.ts`.
 */
import { forbidden, notFound, unauthenticated } from './errors.ts';
import { decodeId } from './ids/snowflake.ts';

export const ROLES = ['CUSTOMER', 'MERCHANT', 'ADMIN'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling a subgraph, as vouched for by the router or by a peer service. */
export interface Identity {
  /** The end user, or null for an anonymous caller. */
  readonly userId: string | null;
  readonly roles: readonly Role[];
  readonly requestId: string;
  /** `router` for public traffic; a subgraph name for service-to-service calls. */
  readonly issuer: string;
  /** The access token the router verified, so auth can end exactly this session on logout. */
  readonly session: Session | null;
  /** Client address as the router determined it (TRUST_PROXY aware), for per-IP limits downstream. */
  readonly clientIp: string | null;
}

export interface Session {
  /** Refresh-token family id (`sid` claim of the access token). */
  readonly id: string;
  /** The access token's `jti`. */
  readonly tokenId: string;
  /** The access token's `exp`, unix seconds. */
  readonly expiresAt: number;
}

export const anonymous = (requestId: string, issuer = 'router'): Identity => ({
  userId: null,
  roles: [],
  requestId,
  issuer,
  session: null,
  clientIp: null,
});

export const hasRole = (identity: Identity, role: Role): boolean => identity.roles.includes(role);

/** The signed-in user's id, or UNAUTHENTICATED. */
export function requireUser(identity: Identity): string {
  if (!identity.userId) throw unauthenticated();
  return identity.userId;
}

export function requireRole(identity: Identity, role: Role): string {
  const userId = requireUser(identity);
  if (!hasRole(identity, role) && !hasRole(identity, 'ADMIN')) throw forbidden(`Requires role ${role}`);
  return userId;
}

/** Guards internal (`@inaccessible`) fields: only the named peer services may call them. */
export function requireService(identity: Identity, ...services: readonly string[]): void {
  if (!services.includes(identity.issuer)) throw forbidden('Internal operation');
}

/**
 * The signed-in caller's id as the row key the data layer uses. UNAUTHENTICATED for an anonymous caller, and for
 * a subject that is no id of ours (a token cannot name an account that does not exist).
 */
export function requireCallerId(identity: Identity): bigint {
  const id = decodeId(requireUser(identity));
  if (id === null) throw unauthenticated();
  return id;
}

/**
 * The row id behind a GraphQL `ID` argument. A malformed id is NOT_FOUND, the same answer as a valid id of a row
 * the caller may not see, so probing ids teaches a client nothing. `what` names the entity: `'Order'`.
 */
export function decodeIdOrNotFound(id: string, what: string): bigint {
  const decoded = decodeId(id);
  if (decoded === null) throw notFound(what);
  return decoded;
}

/**
 * Whether the caller owns the row (its user id is `ownerId`) or is an administrator.
 * @param isAdmin defaults to the token's ADMIN role; a service that re-checks roles against its own data (user
 *   does, since tokens outlive a demotion) passes its answer instead.
 */
export function ownsOrAdmin(identity: Identity, ownerId: bigint, isAdmin = hasRole(identity, 'ADMIN')): boolean {
  return isAdmin || (identity.userId !== null && decodeId(identity.userId) === ownerId);
}

/**
 * For rows that belong to one user (orders, carts, payments): NOT_FOUND rather than FORBIDDEN for anyone else,
 * so other users' rows do not exist as far as a caller can tell. UNAUTHENTICATED for anonymous callers.
 */
export function requireOwnerOrAdmin(identity: Identity, ownerId: bigint, what: string, isAdmin?: boolean): void {
  requireUser(identity);
  if (!ownsOrAdmin(identity, ownerId, isAdmin)) throw notFound(what);
}
