export type { DbLogger, MigrateOptions, MigrateResult } from './migrator.ts';
export {
  databaseUrlFor,
  dropDatabase,
  ensureDatabase,
  MigrationError,
  migrateDatabase,
  migrationChecksum,
  redactUrl,
} from './migrator.ts';
export type { CreatePrismaClientOptions, PrismaClientFactoryOptions } from './prisma.ts';
export { createPrismaClient, statementNames } from './prisma.ts';
export type { InteractiveTransactionClient, IsolationLevel, TransactionOptions } from './transaction.ts';
export { isRetryableTransactionError, withTransaction } from './transaction.ts';
export { isUniqueViolation } from './unique-violation.ts';
