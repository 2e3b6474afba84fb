/**
 * The floor of scenario 1: the least any Node router could do for the same request. One node:http server;
 * the body read and passed through untouched to the subgraph named by the path (`/user`, `/product`) on an
 * undici keep-alive pool, with an identity token for the seeded shopper (signed once per 30 s, as our router
 * does); the answer passed back as it came. No parsing, validation, planning, metrics or limits.
 * With `revocation`, one Redis MGET of the three keys our router reads per request comes first (its answer
 * ignored): the same round trip to Redis our router makes before it may vouch for a caller.
 *   node bench/procs/floor.ts <port> <plain|revocation>   (env: BENCH_FLOOR_SUBGRAPHS, BENCH_FLOOR_USER, …)
 */
import { createServer } from 'node:http';
import { authKeys, IdentitySigner, IdentityTokens } from '@mall/platform';
import { Redis } from 'ioredis';
import { bodyOf, floorAgent, forward } from './forward.ts';

const [port, mode] = process.argv.slice(2);
const subgraphs = JSON.parse(process.env['BENCH_FLOOR_SUBGRAPHS'] ?? '{}') as Record<string, string>;
const userId = process.env['BENCH_FLOOR_USER'] ?? '';
const tokens = new IdentityTokens(new IdentitySigner(process.env['MALL_INTERNAL_SECRET'] ?? '', 'router'));
const agent = floorAgent();
const redis = mode === 'revocation' ? new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379') : undefined;

createServer(async (req, res) => {
  const name = (req.url ?? '/').slice(1);
  const url = subgraphs[name];
  try {
    const body = await bodyOf(req);
    if (!url) throw new Error(`no subgraph ${name}`);
    if (redis)
      await redis.mget(
        authKeys.revocationsGeneration,
        authKeys.deniedAccessToken('jti'),
        authKeys.userRevokedAt(userId),
      );
    const token = tokens.for(name, { userId, roles: ['CUSTOMER', 'MERCHANT'], session: null, clientIp: null });
    await forward(res, url, token, body, agent);
  } catch (err) {
    res.writeHead(502).end(String(err));
  }
}).listen(Number(port), '127.0.0.1', () => process.send?.({ type: 'ready' }));
process.on('SIGTERM', () => process.exit(0));
