/**
 * What the subgraph kit itself costs per request: `startSubgraph` (HTTP shell, identity check, request scope,
 * Apollo with the kit's plugins and metrics) serving a mutation shaped like the flash-sale buy whose resolver
 * does no work, in a process of its own, so the figure is the server's CPU alone (no client, no database, no
 * Redis). The load is sent as the router sends it: undici `request` on a keep-alive pool, JSON body, identity
 * token and `x-request-id`, no `accept` header. Two kinds of caller, in interleaved rounds:
 *   new tokens: every request a caller the subgraph has not seen (a flash-sale crowd: one buy per buyer);
 *   reused tokens: 200 callers, each token sent again and again (the router reuses one per caller for 30 s).
 * CPU/req is the server process's user+system CPU over a round ÷ its requests.
 *   node bench/subgraph-kit.ts [--requests 30000] [--concurrency 32] [--rounds 6] [--profile <dir>]
 * With --profile the server runs under --cpu-prof and prints the measured window for bench/profile-summary.ts.
 */
import { parseArgs } from 'node:util';
import {
  createLogger,
  IDENTITY_HEADER,
  type Identity,
  IdentitySigner,
  loadConfig,
  REQUEST_ID_HEADER,
  requireUser,
  startSubgraph,
} from '@mall/platform';
import { parse } from 'graphql';
import { Agent, request } from 'undici';
import { measure, monotonicUs, percentile, serveParent, startChild } from './lib.ts';

const SECRET = 'bench-subgraph-kit-internal-secret-0123456789';
const BUY = `mutation Buy($input: BuyInput!) { buy(input: $input) { id status reason } }`;

if (process.argv.includes('--serve')) await serve();
else await drive();

async function serve(): Promise<void> {
  const service = await startSubgraph({
    name: 'flashsale',
    typeDefs: parse(`
      extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
      input BuyInput { saleId: ID! idempotencyKey: String! }
      type Purchase { id: ID! status: String! reason: String }
      type Query { ping: String! }
      type Mutation { buy(input: BuyInput!): Purchase! }
    `),
    resolvers: {
      Query: { ping: () => 'pong' },
      Mutation: {
        buy: (_p: unknown, args: { input: { idempotencyKey: string } }, ctx: { identity: Identity }) => {
          requireUser(ctx.identity);
          return { id: args.input.idempotencyKey, status: 'REJECTED', reason: 'SOLD_OUT' };
        },
      },
    },
    config: loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'warn' }),
    logger: createLogger({ service: 'flashsale', level: 'warn' }),
    internalSecret: SECRET,
    port: 0,
    host: '127.0.0.1',
    context: (base) => base,
  });
  serveParent(async (message) => {
    if (message.type === 'cpu') return { type: 'cpu', usage: process.cpuUsage() };
    if (message.type === 'stop') {
      await service.stop();
      // A normal exit is what makes Node write a --cpu-prof profile.
      process.exit(0);
    }
    return undefined;
  });
  process.send?.({ type: 'ready', url: `${service.url}/graphql` });
}

async function drive(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '30000' },
      concurrency: { type: 'string', default: '32' },
      rounds: { type: 'string', default: '6' },
      profile: { type: 'string' },
    },
  });
  const requests = Number(values.requests);
  const concurrency = Number(values.concurrency);
  const rounds = Number(values.rounds);
  const server = startChild('subgraph-kit', 'bench/subgraph-kit.ts', {
    args: ['--serve'],
    ...(values.profile ? { execArgv: ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] } : {}),
  });
  try {
    const { url } = await server.next<{ type: 'ready'; url: string }>('ready');
    const cpu = async () => {
      server.send({ type: 'cpu' });
      const { usage } = await server.next<{ type: 'cpu'; usage: NodeJS.CpuUsage }>('cpu');
      return usage.user + usage.system;
    };
    const signer = new IdentitySigner(SECRET, 'router');
    const firstUser = 9_000_000_000_000_000n;
    const sign = (i: number) =>
      signer.signNow({
        userId: String(firstUser + BigInt(i)),
        roles: ['CUSTOMER'],
        audience: 'flashsale',
        clientIp: '10.0.0.1',
      });
    // Every token signed before the clock starts; new tokens are never sent twice.
    const perRound = Math.ceil(requests / rounds);
    const fresh = Array.from({ length: perRound * rounds + 12_000 }, (_, i) => sign(i));
    const reused = Array.from({ length: 200 }, (_, i) => sign(10_000_000 + i));
    const agent = new Agent({ connections: concurrency, pipelining: 1 });
    let freshUsed = 0;
    const send = async (token: string, i: number) => {
      const res = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [IDENTITY_HEADER]: token, [REQUEST_ID_HEADER]: `kit-${i}` },
        body: JSON.stringify({ query: BUY, variables: { input: { saleId: '1', idempotencyKey: `k-${i}` } } }),
        dispatcher: agent,
      });
      const text = await res.body.text();
      if (res.statusCode !== 200 || !text.includes('SOLD_OUT')) throw new Error(`HTTP ${res.statusCode}: ${text}`);
    };
    const kinds = {
      'new tokens': (i: number) => send(fresh[freshUsed++] as string, i),
      'reused tokens': (i: number) => send(reused[i % reused.length] as string, i),
    };
    const round = async (task: (i: number) => Promise<void>, total: number) => {
      const summary = await measure(total, concurrency, task, cpu);
      return { cpuUsPerReq: summary.cpuPerTask * 1000, perSecond: summary.perSecond, p50: summary.p50 };
    };
    // Warm-up: JIT (the first rounds of a cold server cost twice the later ones), Apollo's document cache, the
    // pool's connections, the identity cache filled to where it evicts.
    for (let pass = 0; pass < 3; pass++) for (const task of Object.values(kinds)) await round(task, 4_000);
    const results: Record<string, { cpuUsPerReq: number; perSecond: number; p50: number }[]> = Object.fromEntries(
      Object.keys(kinds).map((name) => [name, []]),
    );
    const fromUs = monotonicUs();
    for (let r = 0; r < rounds; r++)
      for (const [name, task] of Object.entries(kinds)) results[name]?.push(await round(task, perRound));
    const toUs = monotonicUs();
    for (const [name, xs] of Object.entries(results)) {
      const cpus = xs.map((x) => x.cpuUsPerReq).sort((a, b) => a - b);
      process.stdout.write(
        `${name}: server CPU/req median ${percentile(cpus, 50).toFixed(1)} µs (rounds ${xs.map((x) => x.cpuUsPerReq.toFixed(1)).join(', ')}), ` +
          `${(xs.reduce((a, x) => a + x.perSecond, 0) / xs.length).toFixed(0)}/s, p50 ${(xs.reduce((a, x) => a + x.p50, 0) / xs.length).toFixed(2)} ms\n`,
      );
    }
    if (values.profile) process.stdout.write(`measured window (monotonic µs): ${JSON.stringify({ fromUs, toUs })}\n`);
    await agent.close();
  } finally {
    const exited = new Promise((resolve) => server.process.once('exit', resolve));
    if (server.process.connected) server.send({ type: 'stop' });
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    await server.stop();
  }
}
