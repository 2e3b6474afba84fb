import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
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

export interface GraphQLStubRequest {
  readonly query: string;
  readonly variables: Record<string, unknown>;
  readonly headers: IncomingHttpHeaders;
}

/** A GraphQL response body as a stub sends it: `data` and/or `errors`, exactly as given. */
export type GraphQLStubReply = { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };

/**
 * A peer subgraph's HTTP endpoint answering from `answer`, for testing a service-to-service caller without
 * starting the peer. It checks nothing about the caller: tests of the identity checks belong to the peer.
 */
export async function startGraphQLStub(
  answer: (request: GraphQLStubRequest) => GraphQLStubReply | Promise<GraphQLStubReply>,
): Promise<{ readonly url: string; close(): Promise<void> }> {
  const server = createHttpServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const { query, variables } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as GraphQLStubRequest;
    const reply = await answer({ query, variables: variables ?? {}, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))),
  };
}
