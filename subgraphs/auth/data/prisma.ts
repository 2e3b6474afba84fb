import type { Prisma, PrismaClient } from './generated/client.ts';

export type AuthPrisma = PrismaClient;
export type AuthTx = Prisma.TransactionClient;
/** The root client or a transaction's: single statements take either, several that must be atomic take a tx. */
export type AuthDb = AuthPrisma | AuthTx;
