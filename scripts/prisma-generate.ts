// Generates the Prisma client of every prisma/<domain>/ schema folder, offline, and of the packages'
// test fixture schemas (packages/*/test/fixtures/prisma/<name>/), so tests type-check against them.
// Quiet on success; a folder whose schema files (and Prisma version) are unchanged since its last
// generate is skipped, using a stamp written next to the generated client.
//
//   node scripts/prisma-generate.ts [--force] [schemaDir...]
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { domainSchemaDirs, generateClient, repoRoot, schemaHash } from './lib/prisma-env.ts';

const STAMP = '.schema-hash';

/** Where the schema's generator writes, from its `output = "..."` (relative to the schema folder). */
async function outputDirOf(schemaDir: string): Promise<string> {
  const schema = await readFile(join(schemaDir, 'schema.prisma'), 'utf8');
  const generator = /generator\s+\w+\s*\{([^}]*)\}/m.exec(schema)?.[1] ?? '';
  const output = /^\s*output\s*=\s*"([^"]+)"/m.exec(generator)?.[1];
  if (!output)
    throw new Error(`${relative(repoRoot, schemaDir)}/schema.prisma: the generator needs an explicit output`);
  return resolve(schemaDir, output);
}

async function allSchemaDirs(): Promise<string[]> {
  const packages = await readdir(join(repoRoot, 'packages'), { withFileTypes: true }).catch(() => []);
  const fixtureRoots = packages
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(repoRoot, 'packages', entry.name, 'test', 'fixtures', 'prisma'));
  const nested = await Promise.all([domainSchemaDirs(), ...fixtureRoots.map((root) => domainSchemaDirs(root))]);
  return nested.flat();
}

export async function generateAll(options: { force?: boolean; schemaDirs?: string[] } = {}): Promise<string[]> {
  const dirs = options.schemaDirs ?? (await allSchemaDirs());
  // Each generate is a separate CLI process, so they can run side by side.
  const generated = await Promise.all(
    dirs.map(async (dir) => {
      const output = await outputDirOf(dir);
      const stamp = join(output, STAMP);
      const hash = await schemaHash(dir);
      if (!options.force && existsSync(stamp) && (await readFile(stamp, 'utf8')) === hash) return undefined;
      await generateClient(dir);
      await writeFile(stamp, hash);
      return dir;
    }),
  );
  return generated.filter((dir): dir is string => dir !== undefined);
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const force = args.includes('--force');
  const dirs = args.filter((arg) => !arg.startsWith('--')).map((arg) => resolve(arg));
  try {
    await generateAll({ force, ...(dirs.length > 0 ? { schemaDirs: dirs } : {}) });
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
