import { configFields, defineConfig } from '@mall/platform';
import { z } from 'zod';

/** user's own variables: the bootstrap administrator (the password is required by user alone in production). */
export const userConfig = defineConfig(
  'user',
  z
    .object({
      MALL_ADMIN_EMAIL: z.email().default('admin@mall.local'),
      MALL_ADMIN_PASSWORD: configFields.optionalString,
    })
    .transform((e) => ({ admin: { email: e.MALL_ADMIN_EMAIL.toLowerCase(), password: e.MALL_ADMIN_PASSWORD } })),
);
export type UserConfig = z.infer<typeof userConfig.schema>;
