import { defineStateMachine } from '@mall/platform/fsm';
import type { PaymentStatus } from './payment.ts';

export type PaymentCommand = 'succeed' | 'fail' | 'refund';

/**
 * The one payment state machine:
 *   PENDING → SUCCEEDED → REFUNDED
 *   PENDING → FAILED
 * A failed payment stays failed: the customer pays the (still payable) order again with a new payment.
 */
export const paymentMachine = defineStateMachine<PaymentStatus, PaymentCommand, undefined>('Payment', {
  succeed: { from: ['PENDING'], to: 'SUCCEEDED' },
  fail: { from: ['PENDING'], to: 'FAILED' },
  refund: { from: ['SUCCEEDED'], to: 'REFUNDED' },
});
