export {
  databaseUrlFor,
  dropDatabase,
  ensureDatabase,
  migrateDatabase,
  migrationChecksum,
  MigrationError,
  redactUrl,
} from './migrator.ts';
export type { DbLogger, MigrateOptions, MigrateResult } from './migrator.ts';
export { createPrismaClient } from './prisma.ts';
export type { CreatePrismaClientOptions, PrismaClientFactoryOptions } from './prisma.ts';
export { isRetryableTransactionError, withTransaction } from './transaction.ts';
export type { InteractiveTransactionClient, IsolationLevel, TransactionOptions } from './transaction.ts';
