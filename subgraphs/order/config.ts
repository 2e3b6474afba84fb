import { defineConfig } from '@mall/platform';
import { z } from 'zod';

/** order's own variables: how long an order waits for payment, and how often the expiry safety net runs. */
export const orderConfig = defineConfig(
  'order',
  z
    .object({
      ORDER_PAYMENT_TIMEOUT_SECONDS: z.coerce
        .number()
        .int()
        .min(1)
        .max(7 * 24 * 3600)
        .default(900),
      // The database sweep behind the BullMQ delayed jobs: cancels what a lost Redis forgot.
      ORDER_EXPIRY_SWEEP_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
    })
    .transform((e) => ({
      paymentTimeoutSeconds: e.ORDER_PAYMENT_TIMEOUT_SECONDS,
      sweepIntervalSeconds: e.ORDER_EXPIRY_SWEEP_SECONDS,
    })),
);
export type OrderConfig = z.infer<typeof orderConfig.schema>;
