import { randomUUID } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from './config.ts';

/**
 * A secret from the environment, or in development one generated once into MALL_DATA_DIR/secrets so every
 * process of a local stack (and every restart) agrees on it. Production never generates: config validation
 * already demands the variable there.
 */
export async function devSecret(
  config: Config,
  name: string,
  given: string | undefined,
  generate: () => string | Promise<string>,
): Promise<string> {
  if (given) return given;
  if (config.isProduction) throw new Error(`secret ${name} must be provided in production`);
  const dir = join(config.dataDir, 'secrets');
  const file = join(dir, name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const value = await generate();
  // Written aside and hard-linked into place: link() fails if the name exists, so when several services start
  // at once exactly one value wins, and nobody can read a half-written file.
  const tmp = `${file}.${randomUUID()}.tmp`;
  await writeFile(tmp, value, { mode: 0o600 });
  try {
    await link(tmp, file);
    return value;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return (await readFile(file, 'utf8')).trim();
  } finally {
    await unlink(tmp);
  }
}
