// Running the Prisma CLIs offline.
//
// - Prisma 7 (`prisma`) generates clients. It still resolves engine files before generating and
//   downloads them when missing; pointing both engine variables at any existing file stops that.
// - Prisma 7's `migrate` needs the native schema engine, which cannot be downloaded here, so SQL is
//   diffed by the pinned Prisma 6.19 CLI (`prisma6`) on its WASM schema engine (`engine: "js"` plus a
//   driver adapter in a throwaway prisma.config.ts). 6.19 wants a datasource `url` in the schema and 7
//   refuses one, so 6.19 reads a temporary copy of the schema folder with the url added.
// - With an adapter configured, 6.19 refuses `--from-url`; a database can only be read as the
//   "shadow database" of `--from-migrations`. The adapter factory below hands over the database we
//   already migrated as the shadow and the diff runs against an empty migrations folder, so Prisma
//   applies nothing and describes that database as it is.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { PrismaPg } from 'prisma6-adapter-pg';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const prismaRoot = join(repoRoot, 'prisma');

const require = createRequire(import.meta.url);
const prisma7Cli = join(dirname(require.resolve('prisma/package.json')), 'build', 'index.js');
const prisma6Root = dirname(require.resolve('prisma6/package.json'));
const prisma6Cli = join(prisma6Root, 'build', 'index.js');

const DIFF_URL_VAR = 'MALL_PRISMA6_DIFF_URL';

/** Environment for any Prisma CLI run: no engine downloads, no update checks, no telemetry. */
export function offlinePrismaEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const stub = join(tmpdir(), 'mall-prisma-engine-stub');
  if (!existsSync(stub)) writeFileSync(stub, '');
  return {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: stub,
    PRISMA_QUERY_ENGINE_LIBRARY: stub,
    CHECKPOINT_DISABLE: '1',
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    ...extra,
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runNode(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    // process.execPath: the pinned Node 24 that runs this script, never whatever `node` is on PATH.
    const child = spawn(process.execPath, [script, ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? 1, stdout, stderr }));
  });
}

/** Folders under prisma/ that hold a domain schema (`<domain>/schema.prisma`). */
export async function domainSchemaDirs(root: string = prismaRoot): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isDirectory() && existsSync(join(root, entry.name, 'schema.prisma')))
    .map((entry) => join(root, entry.name))
    .sort();
}

/** The `.prisma` files of a schema folder, which Prisma reads as one schema. */
export async function schemaFiles(schemaDir: string): Promise<string[]> {
  const entries = await readdir(schemaDir, { withFileTypes: true });
  return entries
    .filter((entry) => (entry.isFile() || entry.isSymbolicLink()) && entry.name.endsWith('.prisma'))
    .map((entry) => join(schemaDir, entry.name))
    .sort();
}

/** A hash of a schema folder's `.prisma` files and the generator version: changes iff a regenerate could. */
export async function schemaHash(schemaDir: string): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.parse(await readFile(join(dirname(prisma7Cli), '..', 'package.json'), 'utf8')).version as string);
  for (const file of await schemaFiles(schemaDir)) {
    hash.update(`\0${file.slice(schemaDir.length)}\0`);
    hash.update(await readFile(file));
  }
  return hash.digest('hex');
}

/** `prisma generate` (Prisma 7) for one schema folder. Throws with Prisma's output on failure. */
export async function generateClient(schemaDir: string): Promise<void> {
  const result = await runNode(prisma7Cli, ['generate', '--schema', schemaDir], offlinePrismaEnv());
  if (result.code !== 0) {
    throw new Error(`prisma generate failed for ${schemaDir}:\n${result.stdout}${result.stderr}`);
  }
}

// Prisma 6.19's pg adapter cannot type catalog columns (`name`, `"char"`, …) that its WASM schema
// engine reads while describing a database, and fails with "Column type 'name' could not be
// deserialized" (prisma/orm#27403). They arrive as strings, so relabel them text before it looks.
const CATALOG_AS_TEXT = new Set([18, 19, 22, 24, 30, 194, 2205, 2206]);
const CATALOG_ARRAY_AS_TEXT_ARRAY = new Set([1002, 1003]);
const PG_TEXT = 25;
const PG_TEXT_ARRAY = 1009;

interface FieldLike {
  dataTypeID: number;
}

function catalogFriendlyPool(connectionString: string): pg.Pool {
  // A short idle timeout: an idle pooled connection otherwise keeps the CLI alive for 10 s after it is done.
  const pool = new pg.Pool({ connectionString, max: 2, idleTimeoutMillis: 50 });
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  const relabel = (result: unknown): unknown => {
    const fields = (result as { fields?: FieldLike[] } | undefined)?.fields ?? [];
    for (const field of fields) {
      if (CATALOG_AS_TEXT.has(field.dataTypeID)) field.dataTypeID = PG_TEXT;
      else if (CATALOG_ARRAY_AS_TEXT_ARRAY.has(field.dataTypeID)) field.dataTypeID = PG_TEXT_ARRAY;
    }
    return result;
  };
  (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const result = query(...args);
    return result instanceof Promise ? result.then(relabel) : result;
  };
  return pool;
}

/**
 * Imported by the temporary prisma.config.ts, i.e. loaded by the Prisma 6 CLI's own TS loader (jiti)
 * as well as by Node: keep this module's top level free of side effects.
 *
 * The adapter factory the temporary prisma.config.ts uses: the "shadow database" is `databaseUrl`
 * itself. Only safe together with an empty `--from-migrations` folder (see the top of this file).
 */
export function describeDatabaseAdapter(databaseUrl: string) {
  const connect = () => new PrismaPg(catalogFriendlyPool(databaseUrl), { disposeExternalPool: true }).connect();
  return {
    provider: 'postgres' as const,
    adapterName: '@prisma/adapter-pg' as const,
    connect,
    connectToShadowDb: connect,
  };
}

async function copySchemaWithUrl(schemaDir: string, into: string): Promise<void> {
  await mkdir(into, { recursive: true });
  for (const file of await schemaFiles(schemaDir)) {
    const text = await readFile(file, 'utf8');
    const withUrl = text.replace(/^(\s*datasource\s+\w+\s*\{)/m, `$1\n  url = env("${DIFF_URL_VAR}")`);
    await writeFile(join(into, file.slice(schemaDir.length + 1)), withUrl);
  }
}

/**
 * The SQL that takes the database at `databaseUrl` to the schema in `schemaDir`, or '' when they
 * match. The database is only read. `_prisma_migrations` is ignored, as Prisma always does.
 */
export async function diffDatabaseToSchema(databaseUrl: string, schemaDir: string): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'mall-prisma6-'));
  try {
    const schemaCopy = join(work, 'schema');
    const emptyMigrations = join(work, 'migrations');
    await copySchemaWithUrl(schemaDir, schemaCopy);
    await mkdir(emptyMigrations);
    await writeFile(join(emptyMigrations, 'migration_lock.toml'), 'provider = "postgresql"\n');
    const config = join(work, 'prisma.config.ts');
    await writeFile(
      config,
      [
        `import { defineConfig } from ${JSON.stringify(pathToFileURL(join(prisma6Root, 'config.js')).href)};`,
        `import { describeDatabaseAdapter } from ${JSON.stringify(import.meta.url)};`,
        `export default defineConfig({`,
        `  experimental: { adapter: true },`,
        `  engine: 'js',`,
        `  schema: ${JSON.stringify(schemaCopy)},`,
        `  adapter: async () => describeDatabaseAdapter(process.env.${DIFF_URL_VAR}),`,
        `});`,
        '',
      ].join('\n'),
    );
    const result = await runNode(
      prisma6Cli,
      [
        'migrate',
        'diff',
        '--config',
        config,
        '--from-migrations',
        emptyMigrations,
        '--to-schema-datamodel',
        schemaCopy,
        '--script',
        '--exit-code',
      ],
      offlinePrismaEnv({ [DIFF_URL_VAR]: databaseUrl }),
    );
    // --exit-code: 0 = no difference, 2 = difference, anything else = failure.
    if (result.code === 0) return '';
    if (result.code === 2) return `${result.stdout.trim()}\n`;
    throw new Error(`prisma6 migrate diff failed for ${schemaDir}:\n${result.stdout}${result.stderr}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Migration folder name in Prisma's format: UTC `YYYYMMDDHHMMSS_<name>`. */
export function migrationFolderName(name: string, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const slug = name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (!slug) throw new Error(`migration name ${JSON.stringify(name)} has no letters or digits`);
  return `${stamp}_${slug}`;
}
