import { hasRole, type Identity, ownsOrAdmin } from '@mall/platform/access';
import type { CancelReason } from './order.ts';

/** Services that may create orders (`placeOrder`) and read any order by reference. */
export const ORDER_CREATORS = ['checkout', 'flashsale'] as const;

/** The service that reads an order to charge it (`orderForPayment`) and whose events pay and refund it. */
export const ORDER_PAYER = 'payment';

/** Every peer service the order subgraph accepts calls from. */
export const ORDER_PEERS = [...ORDER_CREATORS, ORDER_PAYER] as const;

/** A peer service rather than the router speaking for an end user. */
export const isService = (identity: Identity): boolean => identity.issuer !== 'router';

/**
 * Who may see an order: its owner, an administrator, or a trusted peer service. Roles come from the access
 * token (at most 15 minutes old): the order subgraph has no copy of users' roles.
 */
export const canRead = (identity: Identity, ownerId: bigint): boolean =>
  isService(identity) || ownsOrAdmin(identity, ownerId);

/** A cancellation by the owner is the customer's; by anyone else (an ADMIN) it is an administrator's. */
export function cancelReasonFor(identity: Identity, ownerId: bigint): CancelReason {
  return ownsOrAdmin(identity, ownerId, false) ? 'USER' : 'ADMIN';
}

/** The actor recorded in an order's history for a caller. */
export function actorOf(identity: Identity): string {
  if (isService(identity)) return `service:${identity.issuer}`;
  return `${hasRole(identity, 'ADMIN') ? 'admin' : 'user'}:${identity.userId}`;
}
