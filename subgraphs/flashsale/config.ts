import { defineConfig } from '@mall/platform';
import { z } from 'zod';

/** flashsale's own variables: the per-address cap on one sale, and how often ended sales are settled. */
export const flashsaleConfig = defineConfig(
  'flashsale',
  z
    .object({
      // Buys of one sale from one client address per window: a bot behind one address cannot take a sale's
      // units or its Redis from everyone else (per-user limits stop one account; this stops many accounts on
      // one address). 0 turns it off.
      FLASHSALE_IP_LIMIT: z.coerce.number().int().min(0).max(1_000_000).default(100),
      FLASHSALE_IP_WINDOW_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
      FLASHSALE_SETTLE_SWEEP_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
    })
    .transform((e) => ({
      ipLimit: { max: e.FLASHSALE_IP_LIMIT, windowSeconds: e.FLASHSALE_IP_WINDOW_SECONDS },
      settleSweepSeconds: e.FLASHSALE_SETTLE_SWEEP_SECONDS,
    })),
);
export type FlashSaleConfig = z.infer<typeof flashsaleConfig.schema>;
