/**
 * Who is calling and what they may do: pure types and checks, safe for `domain/` (no I/O, no token code).
 * Identity tokens themselves are signed and verified in `identity.ts`.
 */
import { forbidden, unauthenticated } from './errors.ts';

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
