/**
 * Hive Gateway (`@graphql-hive/gateway` runtime, programmatic) served on node:http, with its defaults, on the
 * supergraph file the harness wrote. `--no-dedupe` turns off its in-flight deduplication of identical subgraph
 * requests (`deduplicateInflightRequests` of the HTTP transport, on by default). The identity header our
 * subgraphs demand goes on through `propagateHeaders`, per subgraph.
 *   node bench/procs/hive.ts <port> <supergraph.graphql> [--no-dedupe]
 */
import { createServer, type RequestListener } from 'node:http';
import { IDENTITY_HEADER } from '@mall/platform';
import { identityTokenFor, serveTokenUpdates } from './peer-tokens.ts';

// Loaded by a name the type checker does not follow: Hive's type graph declares fetch globals (BodyInit…) that
// would change how the rest of the repository type-checks. The few options used here are typed below.
const HIVE = '@graphql-hive/gateway';
const { createGatewayRuntime } = (await import(HIVE)) as {
  createGatewayRuntime(config: {
    supergraph: string;
    logging: boolean;
    propagateHeaders: { fromClientToSubgraphs(payload: { subgraphName: string }): Record<string, string> };
    transportEntries?: Record<string, { options: { deduplicateInflightRequests: boolean } }>;
  }): RequestListener;
};

const [port, supergraphPath, flag] = process.argv.slice(2);
const gateway = createGatewayRuntime({
  supergraph: supergraphPath!,
  logging: false,
  propagateHeaders: {
    fromClientToSubgraphs: ({ subgraphName }) => ({ [IDENTITY_HEADER]: identityTokenFor(subgraphName) }),
  },
  ...(flag === '--no-dedupe' ? { transportEntries: { '*': { options: { deduplicateInflightRequests: false } } } } : {}),
});
const server = createServer(gateway);
await new Promise<void>((resolve) => server.listen(Number(port), '127.0.0.1', resolve));
serveTokenUpdates();
process.send?.({ type: 'ready' });
