import { type Config, createPrismaClient, domainDatabaseUrl, type Logger } from '@mall/platform';
import { type Prisma, PrismaClient } from './generated/client.ts';

export type AuthPrisma = PrismaClient;
export type AuthTx = Prisma.TransactionClient;

export function createAuthPrisma(config: Config, logger: Logger): AuthPrisma {
  return createPrismaClient(PrismaClient, {
    url: domainDatabaseUrl(config, 'auth'),
    poolSize: config.database.poolSize,
    logger,
    applicationName: 'mall-auth',
  });
}
