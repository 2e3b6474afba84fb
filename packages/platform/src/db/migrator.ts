import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';

/** The subset of a pino logger the data layer writes to. */
export interface DbLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface MigrateOptions {
  databaseUrl: string;
  /** A Prisma migrations folder: `<dir>/<YYYYMMDDHHMMSS>_<name>/migration.sql`. */
  migrationsDir: string;
  logger?: DbLogger;
  /** How long to wait for another instance that holds the migration lock. Default 60 s. */
  lockTimeoutMs?: number;
}

export interface MigrateResult {
  /** Names of the migrations this call applied, in order; empty when the database was up to date. */
  applied: string[];
}

/** Thrown when the database and the migrations folder disagree in a way a human has to resolve. */
export class MigrationError extends Error {
  readonly migration: string | undefined;
  constructor(message: string, migration?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MigrationError';
    this.migration = migration;
  }
}

// Same key as Prisma's schema engine, so our migrator and a `prisma migrate deploy` run by hand
// exclude each other too. Advisory locks are scoped to the current database.
const MIGRATION_LOCK_KEY = 72707369;

const DUPLICATE_DATABASE = '42P04';
const UNIQUE_VIOLATION = '23505';
const INVALID_CATALOG_NAME = '3D000';
const LOCK_NOT_AVAILABLE = '55P03';

// Prisma's own DDL for the table, so `prisma migrate status` reads what we write.
const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

/** Prisma's migration checksum: sha256 of the file's text, lowercase hex. */
export function migrationChecksum(script: string): string {
  return createHash('sha256').update(script, 'utf8').digest('hex');
}

// Prisma accepts a file whose line endings git converted since it was applied; so do we.
function scriptMatchesChecksum(script: string, checksum: string): boolean {
  const variants = [script, script.replaceAll('\r\n', '\n'), script.replaceAll(/\r?\n/g, '\r\n')];
  return variants.some((variant) => migrationChecksum(variant) === checksum);
}

/** `serverUrl` with its database (the URL path) replaced by `databaseName`; query parameters are kept. */
export function databaseUrlFor(serverUrl: string, databaseName: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(databaseName)}`;
  return url.toString();
}

function databaseNameOf(databaseUrl: string): string {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ''));
  if (!name) throw new Error(`database URL has no database name: ${redactUrl(databaseUrl)}`);
  return name;
}

/** The URL with its password masked, for messages and logs. */
export function redactUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '<invalid database url>';
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
    return error.code;
  }
  return undefined;
}

async function withMaintenanceClient<T>(
  databaseUrl: string,
  fn: (client: pg.Client, name: string) => Promise<T>,
): Promise<T> {
  const name = databaseNameOf(databaseUrl);
  const client = new pg.Client({ connectionString: databaseUrlFor(databaseUrl, 'postgres') });
  await client.connect();
  try {
    return await fn(client, name);
  } finally {
    await client.end();
  }
}

/** Creates the URL's database if it does not exist. Returns true when this call created it. */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  return withMaintenanceClient(databaseUrl, async (client, name) => {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (existing.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
      return true;
    } catch (error) {
      // Another instance won the race between our check and our CREATE; either code is possible
      // depending on where Postgres notices the conflict.
      const code = errorCode(error);
      if (code === DUPLICATE_DATABASE || code === UNIQUE_VIOLATION) return false;
      throw error;
    }
  });
}

/** Drops the URL's database, disconnecting its sessions. Missing databases are fine. */
export async function dropDatabase(databaseUrl: string): Promise<void> {
  await withMaintenanceClient(databaseUrl, async (client, name) => {
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  });
}

interface MigrationFile {
  name: string;
  script: string;
  checksum: string;
}

async function readMigrations(migrationsDir: string): Promise<MigrationFile[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    // Plain code-unit order, like Prisma: the timestamp prefix makes it chronological.
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const migrations: MigrationFile[] = [];
  for (const name of names) {
    let script: string;
    try {
      script = await readFile(join(migrationsDir, name, 'migration.sql'), 'utf8');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') throw new MigrationError(`migration ${name} has no migration.sql`, name);
      throw error;
    }
    migrations.push({ name, script, checksum: migrationChecksum(script) });
  }
  return migrations;
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  logs: string | null;
}

/**
 * Brings a database up to date with a Prisma migrations folder, the way `prisma migrate deploy` would,
 * but from inside the service and without Prisma's native engine.
 *
 * Every migration runs in its own transaction together with its `_prisma_migrations` row, so a
 * failure leaves no half-applied migration behind (which also means a migration cannot use
 * statements that refuse transactions, such as `CREATE INDEX CONCURRENTLY`).
 */
export async function migrateDatabase(options: MigrateOptions): Promise<MigrateResult> {
  const { databaseUrl, migrationsDir, logger } = options;
  const migrations = await readMigrations(migrationsDir);

  const client = await connectCreatingDatabase(databaseUrl, logger);
  try {
    await client.query(`SET lock_timeout = ${Math.max(0, Math.trunc(options.lockTimeoutMs ?? 60_000))}`);
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    } catch (error) {
      if (errorCode(error) !== LOCK_NOT_AVAILABLE) throw error;
      throw new MigrationError(
        `timed out waiting for the migration lock on ${redactUrl(databaseUrl)}; another instance is migrating`,
        undefined,
        { cause: error },
      );
    }
    await client.query('SET lock_timeout = 0');
    try {
      return await applyPending(client, migrations, databaseUrl, logger);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
}

// Connecting first means a service whose database already exists never needs the `postgres`
// database or CREATEDB, which production credentials usually lack.
async function connectCreatingDatabase(databaseUrl: string, logger: DbLogger | undefined): Promise<pg.Client> {
  const connect = async () => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    return client;
  };
  try {
    return await connect();
  } catch (error) {
    if (errorCode(error) !== INVALID_CATALOG_NAME) throw error;
  }
  if (await ensureDatabase(databaseUrl)) logger?.info({ database: databaseNameOf(databaseUrl) }, 'created database');
  return connect();
}

async function applyPending(
  client: pg.Client,
  migrations: MigrationFile[],
  databaseUrl: string,
  logger: DbLogger | undefined,
): Promise<MigrateResult> {
  await client.query(CREATE_MIGRATIONS_TABLE);
  const { rows } = await client.query<AppliedRow>(
    `SELECT migration_name, checksum, finished_at, rolled_back_at, logs
       FROM "_prisma_migrations" ORDER BY started_at, migration_name`,
  );

  const failed = rows.find((row) => row.finished_at === null && row.rolled_back_at === null);
  if (failed) {
    throw new MigrationError(
      `migration ${failed.migration_name} is recorded as failed in ${redactUrl(databaseUrl)}; ` +
        `fix the database, then mark it with \`prisma migrate resolve\` before starting again` +
        (failed.logs ? `\n${failed.logs}` : ''),
      failed.migration_name,
    );
  }

  const applied = new Map<string, AppliedRow>();
  for (const row of rows) {
    if (row.finished_at !== null && row.rolled_back_at === null) applied.set(row.migration_name, row);
  }

  for (const migration of migrations) {
    const row = applied.get(migration.name);
    if (row && !scriptMatchesChecksum(migration.script, row.checksum)) {
      throw new MigrationError(
        `migration ${migration.name} was edited after it was applied to ${redactUrl(databaseUrl)} ` +
          `(checksum ${row.checksum} in the database, ${migration.checksum} on disk); ` +
          `restore the file and put the change in a new migration`,
        migration.name,
      );
    }
  }

  const known = new Set(migrations.map((migration) => migration.name));
  const unknown = [...applied.keys()].filter((name) => !known.has(name));
  if (unknown.length > 0) {
    // Expected while an older release still runs next to a newer one that already migrated.
    logger?.warn({ migrations: unknown }, 'database has migrations this release does not know about');
  }

  const done: string[] = [];
  for (const migration of migrations) {
    if (applied.has(migration.name)) continue;
    await applyOne(client, migration, logger);
    done.push(migration.name);
  }
  return { applied: done };
}

async function applyOne(client: pg.Client, migration: MigrationFile, logger: DbLogger | undefined): Promise<void> {
  const id = randomUUID();
  const startedAt = new Date();
  await client.query('BEGIN');
  try {
    // Multi-statement simple query: pg sends it as one protocol message, Postgres runs it in our transaction.
    await client.query(migration.script);
    await client.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
       VALUES ($1, $2, $3, $4, clock_timestamp(), 1)`,
      [id, migration.checksum, migration.name, startedAt],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    const message = error instanceof Error ? error.message : String(error);
    // Kept as a rolled-back attempt: visible to `prisma migrate status`, yet not blocking, because
    // the transaction left the schema exactly as it was.
    await client.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, logs, rolled_back_at)
       VALUES ($1, $2, $3, $4, $5, clock_timestamp())`,
      [id, migration.checksum, migration.name, startedAt, message],
    );
    throw new MigrationError(`migration ${migration.name} failed and was rolled back: ${message}`, migration.name, {
      cause: error,
    });
  }
  logger?.info({ migration: migration.name, ms: Date.now() - startedAt.getTime() }, 'applied migration');
}
