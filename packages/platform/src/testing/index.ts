import { createServer } from 'node:net';

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
