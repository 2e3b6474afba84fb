import { createServer } from 'node:net';
import type { Redis } from 'ioredis';

/**
 * A TCP port that was free a moment ago on 127.0.0.1. For tests that must know a port before the server
 * that takes it starts (a config naming its peers, a broker restarted on the same address).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Deletes every key under `prefix` — a test's own keys, never anyone else's. `redis` must be a client without
 * a keyPrefix: SCAN patterns ignore ioredis's prefixing.
 */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}
