import { randomBytes } from 'node:crypto';
import { writeOutbox } from '@mall/events';
import { type Config, devSecret, type Logger, withTransaction } from '@mall/platform';
import type { UserConfig } from './config.ts';
import type { PrismaClient } from './data/generated/client.ts';
import type { PasswordHasher } from './data/passwords.ts';
import * as users from './data/users.ts';
import { parseNewAccount } from './domain/user.ts';
import { userRegistered } from './events/producers.ts';

export interface BootstrapAdmin {
  readonly email: string;
  /** The configured password, or the generated one (kept in MALL_DATA_DIR so restarts print the same). */
  readonly password: string;
  /** True when MALL_ADMIN_PASSWORD was unset and the password was generated for development. */
  readonly generated: boolean;
  /** True when this start created the account; false when it already existed (its password is left alone). */
  readonly created: boolean;
}

/**
 * Makes sure the bootstrap administrator exists, so a fresh stack can be administered. An existing account
 * is never changed: an admin may have renamed it, changed its password or revoked its roles on purpose.
 * Safe when several instances start at once: the insert is ON CONFLICT DO NOTHING on the email index, and
 * only the instance whose insert took effect writes `user.registered`.
 */
export async function ensureBootstrapAdmin(deps: {
  config: Config;
  admin: UserConfig['admin'];
  prisma: PrismaClient;
  passwords: PasswordHasher;
  nextId: () => bigint;
  logger: Logger;
}): Promise<BootstrapAdmin> {
  const { config, admin, prisma, logger } = deps;
  const generated = admin.password === undefined;
  const password = await devSecret(config, 'admin-password', admin.password, () =>
    randomBytes(12).toString('base64url'),
  );
  // Same rules as any account: a too-short MALL_ADMIN_PASSWORD fails start-up with a clear message.
  const account = parseNewAccount({ email: admin.email, password, name: 'Administrator' });
  const result = { email: account.email, password, generated };

  // The common case (every restart) costs one indexed read, not an argon2 hash.
  if (await users.emailInUse(prisma, account.email)) return { ...result, created: false };

  const passwordHash = await deps.passwords.hash(password);
  const created = await withTransaction(prisma, async (tx) => {
    const user = await users.insertUserIfAbsent(tx, {
      id: deps.nextId(),
      email: account.email,
      passwordHash,
      name: account.name,
      roles: ['CUSTOMER', 'ADMIN'],
    });
    if (user) await writeOutbox(tx, userRegistered(user, 'bootstrap-admin'));
    return user !== null;
  });
  if (created) logger.info({ email: account.email }, 'bootstrap admin created');
  return { ...result, created };
}
