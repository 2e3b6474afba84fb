// `domain/` holds the rules every subgraph tests without a database: it must not reach I/O, not even
// transitively through the `@mall/platform` barrel. This scans every subgraph's domain folder, and the light
// platform subpaths domain code may import, for runtime imports of I/O modules.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const PLATFORM_SRC = join(ROOT, 'packages/platform/src');

/** Modules that do I/O (or pull it in), by exact name or as a prefix ending in `/`. */
const FORBIDDEN = [
  '@prisma/',
  'ioredis',
  'kafkajs',
  'undici',
  'bullmq',
  'pg',
  'node:net',
  'node:http',
  'node:https',
  // The barrel re-exports Prisma, Redis and server code; domain uses the subpaths (errors, access, money, …).
  '@mall/platform',
];

function isForbidden(specifier: string): boolean {
  if (specifier.startsWith('.') && specifier.split('/').includes('data')) return true;
  return FORBIDDEN.some((name) =>
    name.endsWith('/') ? specifier.startsWith(name) : specifier === name || specifier.startsWith(`${name}/`),
  );
}

/** The subpaths of @mall/platform that are meant for domain code. */
const LIGHT_SUBPATHS = ['errors', 'access', 'address', 'fsm', 'id', 'money', 'pagination'];

/**
 * Every module `source` loads at run time. `import type`/`export type` are erased, so they are left out;
 * `import { type A }` is not (it still loads the module). Comments are stripped first.
 */
function runtimeImports(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  for (const m of code.matchAll(
    /(?:^|[;}\s])(import|export)\s+(type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]/g,
  )) {
    if (!m[2]) found.push(m[3] as string);
  }
  for (const m of code.matchAll(/\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1] as string);
  return found;
}

/** The forbidden modules a source file imports, light @mall/platform subpaths allowed. */
function impureImports(source: string): string[] {
  return runtimeImports(source).filter(
    (specifier) => isForbidden(specifier) && !LIGHT_SUBPATHS.some((sub) => specifier === `@mall/platform/${sub}`),
  );
}

async function domainFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const subgraph of await readdir(join(ROOT, 'subgraphs'))) {
    const dir = join(ROOT, 'subgraphs', subgraph, 'domain');
    const entries = await readdir(dir, { recursive: true }).catch(() => []);
    files.push(...entries.filter((name) => name.endsWith('.ts')).map((name) => join(dir, name)));
  }
  return files;
}

describe('domain purity', () => {
  test('no subgraph domain file imports I/O, data/ or the platform barrel', async () => {
    const files = await domainFiles();
    assert.ok(files.length > 0, 'found no domain files: the scan is looking in the wrong place');
    const problems: string[] = [];
    for (const file of files) {
      for (const specifier of impureImports(await readFile(file, 'utf8')))
        problems.push(`${relative(ROOT, file)} imports ${specifier}`);
    }
    assert.deepEqual(problems, []);
  });

  test('the light @mall/platform subpaths are pure all the way down', async () => {
    const exports = JSON.parse(await readFile(join(PLATFORM_SRC, '../package.json'), 'utf8')).exports as Record<
      string,
      string
    >;
    const problems: string[] = [];
    const seen = new Set<string>();
    const visit = async (file: string): Promise<void> => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const specifier of runtimeImports(await readFile(file, 'utf8'))) {
        if (specifier.startsWith('.')) await visit(resolve(dirname(file), specifier));
        else if (isForbidden(specifier)) problems.push(`${relative(ROOT, file)} imports ${specifier}`);
      }
    };
    for (const sub of LIGHT_SUBPATHS) {
      const target = exports[`./${sub}`];
      assert.ok(target, `@mall/platform/${sub} is not exported`);
      await visit(join(PLATFORM_SRC, '..', target));
    }
    assert.deepEqual(problems, []);
  });

  test('the check catches what it must and lets through what it may', () => {
    const bad = `
      import { PrismaClient } from '@prisma/client';
      import {
        Redis,
      } from 'ioredis';
      import { type Identity, requireUser } from '@mall/platform';
      import * as users from '../data/users.ts';
      import pg from 'pg';
      import 'kafkajs';
      export { request } from 'undici';
      import { createServer } from 'node:http';
      const { Queue } = await import('bullmq');
      import net from 'node:net';`;
    assert.deepEqual(impureImports(bad), [
      '@prisma/client',
      'ioredis',
      '@mall/platform',
      '../data/users.ts',
      'pg',
      'kafkajs',
      'undici',
      'node:http',
      'node:net',
      'bullmq',
    ]);

    const fine = `
      // import { PrismaClient } from '@prisma/client';
      /* import pg from 'pg'; */
      import type { PrismaClient } from '@prisma/client';
      import type { Identity } from '@mall/platform';
      export type { Db } from '../data/users.ts';
      import { forbidden } from '@mall/platform/errors';
      import { type Identity as I, hasRole } from '@mall/platform/access';
      import { money } from '@mall/platform/money';
      import { z } from 'zod';
      import { canonicalRoles } from './user.ts';
      import { randomUUID } from 'node:crypto';
      import pgFormat from 'pg-format';
      const note = 'a string that mentions data/ and pg';`;
    assert.deepEqual(impureImports(fine), []);
    assert.deepEqual(impureImports(`import { ids } from '@mall/platform/ids';`), ['@mall/platform/ids']);
  });
});
