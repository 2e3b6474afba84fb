import { defineStateMachine } from '@mall/platform/fsm';
import type { CancelReason, OrderStatus } from './order.ts';

/** What can happen to an order. Nothing changes its status but these, through `orderMachine`. */
export type OrderCommand = 'pay' | 'cancel' | 'ship' | 'complete' | 'refund';

/** What the guards look at. */
export interface OrderTransitionContext {
  readonly now: Date;
  readonly expiresAt: Date;
  /** For `cancel`: who or what cancels. */
  readonly reason: CancelReason | null;
}

/**
 * The one order state machine:
 *   PENDING_PAYMENT → PAID → SHIPPED → COMPLETED
 *   PENDING_PAYMENT → CANCELLED (USER, TIMEOUT, ADMIN)
 *   PAID → REFUNDED
 * A payment that arrives after the deadline but before the expiry job ran still pays the order: the stock is
 * still held, since it is released only by the cancellation.
 */
export const orderMachine = defineStateMachine<OrderStatus, OrderCommand, OrderTransitionContext>('Order', {
  pay: { from: ['PENDING_PAYMENT'], to: 'PAID' },
  cancel: {
    from: ['PENDING_PAYMENT'],
    to: 'CANCELLED',
    guard: (c) => (c.reason === 'TIMEOUT' && c.now < c.expiresAt ? 'The order has not expired yet' : null),
  },
  ship: { from: ['PAID'], to: 'SHIPPED' },
  complete: { from: ['SHIPPED'], to: 'COMPLETED' },
  refund: { from: ['PAID'], to: 'REFUNDED' },
});
