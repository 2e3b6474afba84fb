import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import {
  type DefinitionNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  Kind,
  type OperationDefinitionNode,
  parse,
  print,
  visit,
} from 'graphql';
import type { Redis } from 'ioredis';
import { z } from 'zod';

export const TRUSTED_DOCUMENTS_PATH = new URL('../trusted-documents.json', import.meta.url);

/** Apollo's persisted query manifest (`apollo-persisted-query-manifest`, version 1). */
const Manifest = z.object({
  format: z.literal('apollo-persisted-query-manifest'),
  version: z.literal(1),
  operations: z.array(
    z.object({
      id: z.string().regex(/^[0-9a-f]{64}$/),
      name: z.string(),
      type: z.enum(['query', 'mutation', 'subscription']),
      body: z.string(),
    }),
  ),
});
export type TrustedDocumentManifest = z.infer<typeof Manifest>;

/** The id of a document: sha256 (hex) of its text, as the manifest format and APQ both define it. */
export const documentId = (body: string): string => createHash('sha256').update(body).digest('hex');

/**
 * One manifest entry per operation of `source`, each with exactly the fragments it uses (sorted by name),
 * printed by graphql-js so the text, and with it the id, does not depend on the source's layout.
 */
export function buildManifest(source: string): TrustedDocumentManifest {
  const document = parse(source, { noLocation: true });
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const operations = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  return {
    format: 'apollo-persisted-query-manifest',
    version: 1,
    operations: operations.map((operation) => {
      if (!operation.name) throw new Error('every trusted operation needs a name');
      const used = new Set<string>();
      const collect = (node: DefinitionNode) =>
        visit(node, {
          FragmentSpread(spread) {
            if (used.has(spread.name.value)) return;
            used.add(spread.name.value);
            const fragment = fragments.get(spread.name.value);
            if (fragment) collect(fragment);
          },
        });
      collect(operation);
      const definitions = [operation, ...[...used].sort().flatMap((name) => fragments.get(name) ?? [])];
      const body = print({ kind: Kind.DOCUMENT, definitions } satisfies DocumentNode);
      return { id: documentId(body), name: operation.name.value, type: operation.operation, body };
    }),
  };
}

/** The checked-in manifest (`router/trusted-documents.json`) as id → document. */
export function loadTrustedDocuments(path: URL = TRUSTED_DOCUMENTS_PATH): ReadonlyMap<string, string> {
  const manifest = Manifest.parse(JSON.parse(readFileSync(path, 'utf8')));
  return new Map(manifest.operations.map((o) => [o.id, o.body]));
}

/** Apollo prefixes every persisted-query key with this (APQ_CACHE_PREFIX, not exported from its entry point). */
const APOLLO_APQ_PREFIX = 'apq:';

/** Automatic persisted queries in Redis (`router:apq:<sha256>`), shared by every router replica. */
export function redisQueryCache(redis: Redis, prefix = 'router:'): KeyValueCache<string> {
  return {
    get: async (key) => (await redis.get(prefix + key)) ?? undefined,
    set: async (key, value, options) => {
      if (options?.ttl) await redis.set(prefix + key, value, 'EX', options.ttl);
      else await redis.set(prefix + key, value);
    },
    delete: async (key) => {
      await redis.del(prefix + key);
    },
  };
}

/** The manifest as Apollo's persisted-query cache: only listed documents are found, nothing is ever registered. */
export function trustedQueryCache(documents: ReadonlyMap<string, string>): KeyValueCache<string> {
  return {
    get: async (key) =>
      key.startsWith(APOLLO_APQ_PREFIX) ? documents.get(key.slice(APOLLO_APQ_PREFIX.length)) : undefined,
    set: async () => undefined,
    delete: async () => undefined,
  };
}

/**
 * Trusted-documents mode: every request is looked up by id. A full query text is turned into its id first,
 * so a listed document runs whichever way it is sent, and anything else is Apollo's PERSISTED_QUERY_NOT_FOUND.
 */
export function trustedDocumentsPlugin<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart({ request }) {
      // Nothing to look up: Apollo answers BAD_REQUEST as for any empty request.
      if (!request.query) return;
      request.extensions = {
        ...request.extensions,
        persistedQuery: { version: 1, sha256Hash: documentId(request.query) },
      };
      request.query = undefined;
    },
  };
}
