/**
 * Plain `@apollo/gateway` + `@apollo/server` standalone, with their defaults, on the supergraph file the
 * harness wrote (subgraph URLs of this run). The one addition is the identity header our subgraphs demand.
 *   node bench/procs/apollo.ts <port> <supergraph.graphql>
 */
import { readFileSync } from 'node:fs';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { IDENTITY_HEADER } from '@mall/platform';
import { identityTokenFor, serveTokenUpdates } from './peer-tokens.ts';

const [port, supergraphPath] = process.argv.slice(2);
const gateway = new ApolloGateway({
  supergraphSdl: readFileSync(supergraphPath!, 'utf8'),
  buildService: ({ name, url }) =>
    new RemoteGraphQLDataSource({
      url: url!,
      willSendRequest({ request }) {
        request.http?.headers.set(IDENTITY_HEADER, identityTokenFor(name));
      },
    }),
});
const server = new ApolloServer({ gateway });
await startStandaloneServer(server, { listen: { port: Number(port), host: '127.0.0.1' } });
serveTokenUpdates();
process.send?.({ type: 'ready' });
