/**
 * The floor of the flash-sale scenario (`npm run bench -- flashsale-floor`): the least two Node processes can do
 * for a buy in our shape, an edge in front of a sale service, with none of GraphQL, Apollo or the kit.
 *
 * `edge`: one node:http server. Per request it does what the design requires of any edge and nothing more: the
 * access token's Ed25519 signature checked with node:crypto (every buyer's token is new, as in the scenario),
 * the per-IP and per-user limits counted through the router's own RateLimiter (the same Redis script, batched
 * the same way), the caller's identity token (the platform's, signed once per caller), and the body passed
 * untouched to the sale service on an undici keep-alive pool; the answer passed back as it came.
 *
 * `sale`: one node:http server. Per request: the identity token checked (the platform's IdentityVerifier), the
 * body parsed, the flash sale's own buy script run through the subgraph's SaleStore (window, per-address cap,
 * per-user limit, key, remaining, in one call on an auto-pipelining client), a rejection remembered as the
 * subgraph does, and the purchase answered as GraphQL JSON. No database: a grant is answered and forgotten.
 *
 *   node bench/procs/flash-floor.ts edge <port> <sale url>   (env: REDIS_URL, MALL_REDIS_PREFIX,
 *                                                               MALL_INTERNAL_SECRET, BENCH_FLOOR_ACCESS_KEY)
 *   node bench/procs/flash-floor.ts sale <port>              (env: REDIS_URL, MALL_REDIS_PREFIX, MALL_INTERNAL_SECRET)
 */
import { createPrivateKey, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { createServer } from 'node:http';
import { IDENTITY_HEADER, IdentitySigner, IdentityTokens, IdentityVerifier, SnowflakeGenerator } from '@mall/platform';
import { Redis } from 'ioredis';
import { RateLimiter } from '../../router/src/limits.ts';
import { SaleStore } from '../../subgraphs/flashsale/data/sale-store.ts';
import { type Message, serveParent } from '../lib.ts';
import { bodyOf, floorAgent, forward } from './forward.ts';

const [role, port, saleUrl] = process.argv.slice(2);
const secret = process.env['MALL_INTERNAL_SECRET'] ?? '';
const redisOptions = { keyPrefix: process.env['MALL_REDIS_PREFIX'] ?? '', maxRetriesPerRequest: 0 };
const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const newRedis = (autoPipelining: boolean) =>
  new Redis(redisUrl, { ...redisOptions, enableAutoPipelining: autoPipelining });

/** The access token's subject once its EdDSA signature holds (claims beyond `sub` are the router's business). */
function subjectOf(authorization: string | undefined, key: KeyObject): string | null {
  const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : '';
  const second = token.lastIndexOf('.');
  if (second < 0) return null;
  const signature = Buffer.from(token.slice(second + 1), 'base64url');
  if (!verify(null, Buffer.from(token.slice(0, second)), key, signature)) return null;
  const payload = token.slice(token.indexOf('.') + 1, second);
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { sub?: string };
  return claims.sub ?? null;
}

function edge() {
  const key = createPublicKey(createPrivateKey(process.env['BENCH_FLOOR_ACCESS_KEY'] ?? ''));
  const limiter = new RateLimiter(newRedis(false), { batched: newRedis(true) });
  const tokens = new IdentityTokens(new IdentitySigner(secret, 'router'));
  const agent = floorAgent();
  createServer(async (req, res) => {
    try {
      const body = await bodyOf(req);
      const userId = subjectOf(req.headers.authorization, key);
      if (!userId) return void res.writeHead(401).end();
      const forwarded = req.headers['x-forwarded-for'];
      const clientIp = (typeof forwarded === 'string' ? forwarded : req.socket.remoteAddress) ?? 'unknown';
      const [ip, user] = await Promise.all([limiter.hit(`ip:${clientIp}`, 1200), limiter.hit(`user:${userId}`, 600)]);
      if (!ip?.allowed || !user?.allowed) return void res.writeHead(429).end();
      const identity = tokens.for('flashsale', { userId, roles: ['CUSTOMER'], session: null, clientIp });
      await forward(res, saleUrl!, identity, body, agent);
    } catch (err) {
      res.writeHead(502).end(String(err));
    }
  }).listen(Number(port), '127.0.0.1', () => process.send?.({ type: 'ready' }));
}

function sale() {
  const redis = newRedis(true);
  const store = new SaleStore(redis, { max: 100, windowSeconds: 60 });
  const verifier = new IdentityVerifier(secret, 'flashsale', ['router']);
  const ids = new SnowflakeGenerator({ workerId: 7 });
  let nextSale = BigInt(Date.now()) * 1000n;
  serveParent(async (message: Message) => {
    if (message.type !== 'floor:sale') return undefined;
    const saleId = nextSale++;
    const now = Date.now();
    await store.load(saleId, {
      remaining: Number(message['units']),
      startsAt: new Date(now - 1000),
      endsAt: new Date(now + 3600_000),
      perUserLimit: 1,
      users: new Map(),
      purchases: [],
    });
    return { type: 'floor:sale', saleId: String(saleId) };
  });
  createServer(async (req, res) => {
    try {
      const [body, who] = await Promise.all([bodyOf(req), verifier.verify(req.headers[IDENTITY_HEADER] as string)]);
      const input = (JSON.parse(body.toString()) as { variables: { input: Record<string, string> } }).variables.input;
      const saleId = BigInt(input['flashSaleId']!);
      const outcome = await store.buy({
        saleId,
        userId: BigInt(who.userId!),
        idempotencyKey: input['idempotencyKey']!,
        quantity: 1,
        purchaseId: ids.next(),
        clientIp: who.clientIp,
        now: Date.now(),
      });
      if (outcome.kind !== 'new' && outcome.kind !== 'replay') return void res.writeHead(503).end();
      const { record } = outcome;
      // The subgraph keeps a rejection readable by id for a day: one SET, batched with the turn's others.
      if (record.status === 'REJECTED' && outcome.kind === 'new')
        void redis.set(`flashsale:rejected:${record.id}`, `${saleId}|${who.userId}|${record.reason}`, 'EX', 86_400);
      const purchase = { id: String(record.id), status: record.status, reason: record.reason, order: null };
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ data: { buyFlashSale: purchase } }));
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  }).listen(Number(port), '127.0.0.1', () => process.send?.({ type: 'ready' }));
}

if (role === 'edge') edge();
else if (role === 'sale') sale();
else throw new Error(`flash-floor: role must be edge or sale, not ${role}`);
process.on('SIGTERM', () => process.exit(0));
