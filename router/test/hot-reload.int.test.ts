// Development hot reload: the router watches the supergraph file, applies a new composition in place, and
// keeps serving the old one when the new file is broken.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { composeServices } from '@apollo/composition';
import { AppError, loadConfig, type RequestScope, type RunningService, startSubgraph } from '@mall/platform';
import { parse } from 'graphql';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { startRouter } from '../src/index.ts';
import { dropPrefix, prefixedRedis, uniquePrefix } from './helpers.ts';

const SECRET = 'router-test-internal-secret-0123456789';
const FED = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])';

/** A logger whose lines a test can wait for: the watcher reports what it did, so no guessing at timing. */
function capturingLogger() {
  const seen: string[] = [];
  const waiters: { msg: string; resolve: () => void }[] = [];
  const logger = pino(
    { level: 'info' },
    {
      write(line: string) {
        const { msg } = JSON.parse(line) as { msg: string };
        seen.push(msg);
        for (const waiter of waiters.filter((w) => w.msg === msg)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      },
    },
  );
  const next = (msg: string, timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${msg}" log within ${timeoutMs} ms (saw: ${seen.join(' | ')})`)),
        timeoutMs,
      );
      waiters.push({
        msg,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  return { logger, next };
}

describe('supergraph hot reload (development)', () => {
  const prefix = uniquePrefix('reload');
  const { logger, next } = capturingLogger();
  let dir: string;
  let redis: Redis;
  let subgraph: RunningService;
  let router: RunningService;

  const compose = (sdl: string) => {
    const result = composeServices([
      { name: 'user', url: 'http://user.invalid/graphql', typeDefs: parse(`${FED} ${sdl}`) },
    ]);
    assert.equal(result.errors, undefined);
    return result.supergraphSdl ?? '';
  };
  const query = async (q: string) => {
    const res = await fetch(`${router.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: q }),
    });
    return (await res.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'router-supergraph-'));
    redis = prefixedRedis(prefix);
    const path = join(dir, 'supergraph.graphql');
    await writeFile(path, compose('type Query { hello: String }'));
    const config = loadConfig({
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: '0',
      MALL_REDIS_PREFIX: prefix,
      SUPERGRAPH_PATH: path,
      SUPERGRAPH_HOT_RELOAD: 'true',
      KAFKA_BROKERS: '127.0.0.1:1',
    });
    subgraph = await startSubgraph<RequestScope>({
      name: 'user',
      typeDefs: parse(`${FED} type Query { hello: String added: String }`),
      resolvers: {
        Query: {
          hello: () => 'hi',
          added: () => {
            throw new AppError('NOT_FOUND', 'nothing here');
          },
        },
      },
      config,
      logger: pino({ level: 'silent' }),
      internalSecret: SECRET,
      port: 0,
      host: '127.0.0.1',
      context: (base) => base,
    });
    router = await startRouter(
      { config, logger, internalSecret: SECRET, redis },
      { port: 0, subgraphUrls: { user: `${subgraph.url}/graphql` } },
    );
  });

  after(async () => {
    await router?.stop();
    await subgraph?.stop();
    await dropPrefix(prefix);
    await redis?.quit();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies a recomposed supergraph without a restart, and keeps it when the next one is broken', async () => {
    const path = join(dir, 'supergraph.graphql');
    // Twice: the second is answered by the passthrough, which must forget it with the supergraph it came from.
    for (let i = 0; i < 2; i++) assert.deepEqual(await query('{ hello }'), { data: { hello: 'hi' } });
    assert.equal((await query('{ added }')).errors?.[0]?.extensions?.code, 'GRAPHQL_VALIDATION_FAILED');

    const reloaded = next('supergraph reloaded');
    await writeFile(path, compose('type Query { hello: String added: String }'));
    await reloaded;
    assert.equal((await query('{ added }')).errors?.[0]?.extensions?.code, 'NOT_FOUND');
    for (let i = 0; i < 2; i++) assert.deepEqual(await query('{ hello }'), { data: { hello: 'hi' } });

    const narrowed = next('supergraph reloaded');
    await writeFile(path, compose('type Query { added: String }'));
    await narrowed;
    assert.equal((await query('{ hello }')).errors?.[0]?.extensions?.code, 'GRAPHQL_VALIDATION_FAILED');

    const rejected = next('supergraph update rejected; keeping the running one');
    await writeFile(path, 'this is not a supergraph');
    await rejected;
    assert.equal((await query('{ hello }')).errors?.[0]?.extensions?.code, 'GRAPHQL_VALIDATION_FAILED');
    assert.equal((await query('{ added }')).errors?.[0]?.extensions?.code, 'NOT_FOUND');
  });
});
