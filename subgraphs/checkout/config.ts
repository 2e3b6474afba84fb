import { defineConfig } from '@mall/platform';
import { z } from 'zod';

/** checkout's own variables: when a checkout in flight counts as abandoned, and how often the repair looks. */
export const checkoutConfig = defineConfig(
  'checkout',
  z
    .object({
      // Longer than any live checkout can take (each peer call is bounded at 5 s), so only a crashed or stuck
      // instance's checkouts are taken over by another instance's repair.
      CHECKOUT_ABANDONED_AFTER_SECONDS: z.coerce.number().int().min(30).max(3600).default(120),
      CHECKOUT_REPAIR_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
    })
    .transform((e) => ({
      abandonedAfterSeconds: e.CHECKOUT_ABANDONED_AFTER_SECONDS,
      repairIntervalSeconds: e.CHECKOUT_REPAIR_INTERVAL_SECONDS,
    })),
);
export type CheckoutConfig = z.infer<typeof checkoutConfig.schema>;
