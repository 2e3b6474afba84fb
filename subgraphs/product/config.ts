import { defineConfig } from '@mall/platform';
import { z } from 'zod';

const seconds = (min: number, fallback: number) => z.coerce.number().int().min(min).default(fallback);

/** product's own variables: reservation leases, the low-stock signal and the product cache. */
export const productConfig = defineConfig(
  'product',
  z
    .object({
      // Longer than an order's payment window (ORDER_PAYMENT_TIMEOUT_SECONDS, 900 s), so an unpaid order is
      // cancelled, and its stock released, by the order's own expiry first; the lease is the safety net.
      PRODUCT_RESERVATION_LEASE_SECONDS: seconds(1, 1200),
      PRODUCT_RESERVATION_SWEEP_SECONDS: seconds(1, 30),
      PRODUCT_LOW_STOCK_THRESHOLD: z.coerce.number().int().min(0).default(10),
      PRODUCT_CACHE_TTL_SECONDS: seconds(1, 300),
      PRODUCT_CACHE_TIMEOUT_MS: z.coerce.number().int().min(1).max(5_000).default(50),
    })
    .transform((e) => ({
      reservationLeaseSeconds: e.PRODUCT_RESERVATION_LEASE_SECONDS,
      sweepIntervalSeconds: e.PRODUCT_RESERVATION_SWEEP_SECONDS,
      lowStockThreshold: e.PRODUCT_LOW_STOCK_THRESHOLD,
      cacheTtlSeconds: e.PRODUCT_CACHE_TTL_SECONDS,
      cacheTimeoutMs: e.PRODUCT_CACHE_TIMEOUT_MS,
    })),
);
export type ProductConfig = z.infer<typeof productConfig.schema>;
