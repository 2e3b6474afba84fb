/**
 * Scenario 3: SQL statements per request of a cross-subgraph list, for list sizes 5, 20 and 50. Every
 * subgraph's Prisma client in the stack process reports each statement it sends (`onQuery`), so this counts
 * what really reached Postgres, per subgraph; a list whose count grows with its size has an N+1 somewhere.
 * Sent through the stack's own router (statement counts do not depend on which process routes).
 */
import { dataOf, fetchBody, type Harness, type Message } from './lib.ts';

const SIZES = [5, 20, 50] as const;
const REPEATS = 3;

/** The subgraphs each list's plan reaches: statements of the others (background work) are reported apart. */
const REACHED = ['product', 'user'];

const LISTS = {
  'products { merchant { name } }': (n: number) =>
    `query { products(first: ${n}) { edges { node { id name merchant { id name } } } } }`,
  'products { categories, merchant }': (n: number) =>
    `query { products(first: ${n}) { edges { node { id name categories { id name } merchant { id name } } } } }`,
};

export async function scenarioQueries(h: Harness) {
  const url = h.ready.routerUrl;
  const headers = { authorization: `Bearer ${h.ready.seed.token}` };
  const statements = async () => (await next(h))['statements'] as { subgraph: string; query: string }[];
  const rows: {
    list: string;
    size: number;
    statementsPerRequest: Record<string, number>;
    total: number;
    errors: number;
    /** The distinct statements the reached subgraphs ran: what the count is made of. */
    distinct: string[];
    /** Statements of subgraphs the plan does not reach (outbox relays, sweepers) in the same window. */
    background: number;
  }[] = [];
  for (const [list, make] of Object.entries(LISTS)) {
    for (const size of SIZES) {
      const body = JSON.stringify({ query: make(size) });
      // The first request fills caches (query plans, the product cache); what repeats is the steady state.
      dataOf(await fetchBody({ url, headers, body }));
      await statements();
      let errors = 0;
      for (let i = 0; i < REPEATS; i++) {
        const data = dataOf(await fetchBody({ url, headers, body })) as {
          products: { edges: { node: { merchant: { name: string } | null } }[] };
        };
        if (data.products.edges.length !== size || data.products.edges.some((e) => !e.node.merchant?.name)) errors++;
      }
      const seen = await statements();
      const reached = seen.filter((s) => REACHED.includes(s.subgraph));
      const perSubgraph = Object.fromEntries(
        REACHED.map((name) => [name, reached.filter((s) => s.subgraph === name).length / REPEATS]),
      );
      const total = Object.values(perSubgraph).reduce((a, b) => a + b, 0);
      const distinct = [...new Set(reached.map((s) => `${s.subgraph}: ${s.query}`))];
      rows.push({
        list,
        size,
        statementsPerRequest: perSubgraph,
        total,
        errors,
        distinct,
        background: seen.length - reached.length,
      });
    }
  }
  const constant = Object.keys(LISTS).every(
    (list) => new Set(rows.filter((r) => r.list === list).map((r) => r.total)).size === 1,
  );
  return { sizes: SIZES, repeats: REPEATS, constantInSize: constant, rows };
}

async function next(h: Harness) {
  const reply = h.stack.next<Message>('count');
  h.stack.send({ type: 'count' });
  return reply;
}
