import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ApolloServer } from '@apollo/server';
import { type Logger, REQUEST_ID_HEADER } from '@mall/platform';
import {
  buildSchema,
  type DocumentNode,
  type ExecutionArgs,
  type FieldNode,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLFieldResolver,
  type GraphQLFormattedError,
  GraphQLID,
  type GraphQLSchema,
  getOperationAST,
  Kind,
  type OperationDefinitionNode,
  parse,
  print,
  printSchema,
  type SelectionNode,
  type SelectionSetNode,
  specifiedRules,
  validate,
  valueFromAST,
  visit,
} from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { type Admit, endRequest, Rejection, type RouterContext, requestDeadline, requestIdFrom } from './context.ts';
import { LIMITS, limitRules } from './limits.ts';
import type { RouterMetrics } from './metrics.ts';
import type { OrderFeed } from './order-feed.ts';
import { documentId } from './persisted-queries.ts';
import type { RevocationWatch } from './revocation-watch.ts';

/** Subscriptions one socket may hold; each costs a refetch per event of its order. */
const MAX_SUBSCRIPTIONS_PER_SOCKET = 50;
const KEEP_ALIVE_MS = 12_000;
const ROOT_FIELD = 'orderStatusChanged';
/** Root aliases of the refetch query: the order's state, and one per `order` field the client selected. */
const STATE = 'state';
const viewAlias = (responseKey: string) => `view_${responseKey}`;

const STATE_SELECTION = parse('{ id status statusHistory { status previousStatus reason at } }', {
  noLocation: true,
}).definitions.flatMap((d) => (d.kind === Kind.OPERATION_DEFINITION ? [d.selectionSet] : []))[0] as SelectionSetNode;

const error = (message: string, code: string) => new GraphQLError(message, { extensions: { code } });

interface OrderState {
  readonly id: string;
  readonly status: string;
  readonly statusHistory: readonly {
    status: string;
    previousStatus: string | null;
    reason: string | null;
    at: string;
  }[];
}

/** One refetch of an order: `data` keyed by the refetch query's root aliases. */
type Refetched = Readonly<Record<string, unknown>> & { readonly [STATE]: OrderState };

type Connection = {
  /** The admitted caller of `connection_init`; set before the connection is acknowledged. */
  admitted?: RouterContext;
  /** Re-checks the connection's token against logouts and revocations (batched with every other socket's). */
  revoked?: () => Promise<boolean>;
};

/**
 * A subscription's selection turned into the query that resolves it through the supergraph:
 * `state: order(id:) { id status statusHistory {…} }` plus `view_<key>: order(id:) { <selection> }` for each
 * `order` field of the update. The order id argument is the client's own node (literal or variable).
 */
function refetchQuery(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  root: FieldNode,
): DocumentNode | GraphQLError {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const idArgument = root.arguments?.find((a) => a.name.value === 'orderId');
  if (!idArgument || !root.selectionSet) return error('orderId and a selection are required', 'BAD_USER_INPUT');
  const orderField = (alias: string, selectionSet: SelectionSetNode): FieldNode => ({
    kind: Kind.FIELD,
    alias: { kind: Kind.NAME, value: alias },
    name: { kind: Kind.NAME, value: 'order' },
    arguments: [{ kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: 'id' }, value: idArgument.value }],
    selectionSet,
  });
  const selections: FieldNode[] = [orderField(STATE, STATE_SELECTION)];
  for (const field of fieldsOf(root.selectionSet, fragments)) {
    if (field.name.value === 'order' && field.selectionSet)
      selections.push(orderField(viewAlias(field.alias?.value ?? 'order'), field.selectionSet));
  }
  // Only the fragments and variables the query uses: graphql rejects unused ones.
  const used = { fragments: new Set<string>(), variables: new Set<string>() };
  const collect = (node: SelectionSetNode | FieldNode | FragmentDefinitionNode) =>
    visit(node, {
      FragmentSpread(spread) {
        if (used.fragments.has(spread.name.value)) return;
        used.fragments.add(spread.name.value);
        const fragment = fragments.get(spread.name.value);
        if (fragment) collect(fragment);
      },
      Variable(variable) {
        used.variables.add(variable.name.value);
      },
    });
  for (const selection of selections) collect(selection);
  return {
    kind: Kind.DOCUMENT,
    definitions: [
      {
        kind: Kind.OPERATION_DEFINITION,
        operation: 'query' as OperationDefinitionNode['operation'],
        ...(operation.name ? { name: operation.name } : {}),
        variableDefinitions: (operation.variableDefinitions ?? []).filter((v) =>
          used.variables.has(v.variable.name.value),
        ),
        selectionSet: { kind: Kind.SELECTION_SET, selections },
      },
      ...[...fragments.values()].filter((f) => used.fragments.has(f.name.value)),
    ],
  };
}

/** The fields of a selection set, fragments expanded (OrderStatusUpdate is an object type: every fragment applies). */
function fieldsOf(selectionSet: SelectionSetNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>): FieldNode[] {
  const out: FieldNode[] = [];
  const seen = new Set<string>();
  const walk = (selections: readonly SelectionNode[]) => {
    for (const s of selections) {
      if (s.kind === Kind.FIELD) out.push(s);
      else if (s.kind === Kind.INLINE_FRAGMENT) walk(s.selectionSet.selections);
      else if (!seen.has(s.name.value)) {
        seen.add(s.name.value);
        walk(fragments.get(s.name.value)?.selectionSet.selections ?? []);
      }
    }
  };
  walk(selectionSet.selections);
  return out;
}

/**
 * Resolves an update from a refetch: the update's own fields from the order's state (its latest transition),
 * `order` from the view under its response key, and everything below from the gateway's answer, which is
 * keyed by response key (aliases) already.
 */
const resolveFromRefetch: GraphQLFieldResolver<unknown, unknown> = (source, _args, _context, info) => {
  if (typeof source !== 'object' || source === null) return null;
  const parent = info.parentType.name;
  if (parent === info.schema.getSubscriptionType()?.name) return source;
  if (parent === 'OrderStatusUpdate') {
    const refetched = source as Refetched;
    const latest = refetched[STATE].statusHistory.at(-1);
    switch (info.fieldName) {
      case 'orderId':
        return refetched[STATE].id;
      case 'status':
        return refetched[STATE].status;
      case 'order':
        return refetched[viewAlias(String(info.path.key))];
      default:
        return latest?.[info.fieldName as 'previousStatus' | 'reason' | 'at'] ?? null;
    }
  }
  return (source as Record<string, unknown>)[String(info.path.key)];
};

/** The listed document a subscribe message names, by its persisted-query hash or by its own text; else undefined. */
function trustedSource(
  documents: ReadonlyMap<string, string>,
  payload: { query: string; extensions?: Record<string, unknown> | null },
): string | undefined {
  const persisted = payload.extensions?.['persistedQuery'];
  const hash =
    typeof persisted === 'object' && persisted !== null && 'sha256Hash' in persisted ? persisted.sha256Hash : undefined;
  return documents.get(typeof hash === 'string' ? hash : documentId(payload.query));
}

const plainSchemas = new WeakMap<GraphQLSchema, GraphQLSchema>();

/**
 * The API schema without the gateway's resolvers on it (they would answer every field from a query plan), so
 * updates resolve with `resolveFromRefetch`. Rebuilt once per supergraph.
 */
function plainSchema(apiSchema: GraphQLSchema): GraphQLSchema {
  let plain = plainSchemas.get(apiSchema);
  if (!plain) {
    plain = buildSchema(printSchema(apiSchema));
    plainSchemas.set(apiSchema, plain);
  }
  return plain;
}

/** A queue read as an async iterator; `return()` (client completes, socket closes) runs the cleanup once. */
class Channel<T> implements AsyncIterableIterator<T> {
  readonly #buffer: T[] = [];
  #waiting: ((result: IteratorResult<T>) => void) | undefined;
  #done = false;
  readonly #cleanup: () => void;

  constructor(cleanup: () => void) {
    this.#cleanup = cleanup;
  }

  push(value: T): void {
    if (this.#done) return;
    if (this.#waiting) {
      this.#waiting({ value, done: false });
      this.#waiting = undefined;
    } else this.#buffer.push(value);
  }

  next(): Promise<IteratorResult<T>> {
    const value = this.#buffer.shift();
    if (value !== undefined) return Promise.resolve({ value, done: false });
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.#waiting = resolve;
    });
  }

  return(): Promise<IteratorResult<T>> {
    if (!this.#done) {
      this.#done = true;
      this.#buffer.length = 0;
      this.#cleanup();
      this.#waiting?.({ value: undefined, done: true });
      this.#waiting = undefined;
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

export interface SubscriptionServerOptions {
  readonly logger: Logger;
  readonly apollo: ApolloServer<RouterContext>;
  readonly admit: Admit;
  readonly feed: OrderFeed;
  readonly metrics: RouterMetrics;
  /** The supergraph's API schema as the gateway last loaded it. */
  readonly schema: () => GraphQLSchema;
  readonly isProduction: boolean;
  /** Closes sockets whose token is revoked (logout, account deleted) while they are open. */
  readonly revocations: RevocationWatch;
  /** Trusted-documents mode: only these (id → text) may be subscribed. */
  readonly trustedDocuments: ReadonlyMap<string, string> | null;
}

export interface SubscriptionServer {
  /** Closes every socket with 1001 (Going Away) and stops taking new ones. */
  close(): Promise<void>;
}

/**
 * `orderStatusChanged` over graphql-ws on the HTTP server's `/graphql` upgrade. `connection_init` is admitted
 * like an HTTP request (its `authorization`); each subscription refetches its selection through the gateway as
 * the subscriber, once at once (the current status, so nothing between subscribe and the first event is lost)
 * and again on every event of its order.
 */
export function attachSubscriptions(http: Server, options: SubscriptionServerOptions): SubscriptionServer {
  const { logger, apollo, admit, feed, metrics, revocations } = options;
  const wss = new WebSocketServer({ noServer: true, maxPayload: LIMITS.bodyBytes });
  /**
   * Refetches in flight per (order, identity, query): subscribers with the same view share one, but only one
   * started after the latest event, or a subscriber could be handed a state from before the event it was told of.
   */
  const inflight = new Map<string, { seen: number; result: Promise<Refetched | readonly GraphQLError[]> }>();
  let closing = false;

  const refetch = (
    admitted: RouterContext,
    query: DocumentNode,
    queryText: string,
    variables: Record<string, unknown>,
    orderId: string,
  ): Promise<Refetched | readonly GraphQLError[]> => {
    const key = JSON.stringify([
      orderId,
      admitted.caller?.userId ?? null,
      admitted.caller?.roles,
      queryText,
      variables,
    ]);
    const shared = inflight.get(key);
    if (shared && shared.seen === feed.eventsSeen) return shared.result;
    const pending = (async () => {
      const deadline = requestDeadline();
      const response = await apollo
        .executeOperation(
          { query, variables },
          { contextValue: { ...admitted, requestId: requestIdFrom(undefined), deadline } },
        )
        .finally(() => endRequest({ deadline }));
      if (response.body.kind !== 'single') throw new Error('incremental result for an order refetch');
      const { data, errors } = response.body.singleResult;
      const state = data?.[STATE];
      if (data && state) return data as Refetched;
      const formatted: readonly GraphQLFormattedError[] = errors?.length
        ? errors
        : [{ message: 'Order not found', extensions: { code: 'NOT_FOUND' } }];
      return formatted.map((e) => new GraphQLError(e.message, { extensions: { ...e.extensions } }));
    })().finally(() => {
      if (inflight.get(key)?.result === pending) inflight.delete(key);
    });
    inflight.set(key, { seen: feed.eventsSeen, result: pending });
    return pending;
  };

  const onSubscribe = async (
    connection: Connection,
    payload: {
      query: string;
      operationName?: string | null;
      variables?: Record<string, unknown> | null;
      extensions?: Record<string, unknown> | null;
    },
    active: number,
  ): Promise<ExecutionArgs | readonly GraphQLError[]> => {
    const admitted = connection.admitted;
    if (!admitted) return [error('Not acknowledged', 'UNAUTHENTICATED')];
    if (active > MAX_SUBSCRIPTIONS_PER_SOCKET)
      return [error(`At most ${MAX_SUBSCRIPTIONS_PER_SOCKET} subscriptions per connection`, 'BAD_REQUEST')];
    const source = options.trustedDocuments ? trustedSource(options.trustedDocuments, payload) : payload.query;
    if (source === undefined) return [error('PersistedQueryNotFound', 'PERSISTED_QUERY_NOT_FOUND')];
    let document: DocumentNode;
    try {
      document = parse(source, { maxTokens: LIMITS.maxTokens });
    } catch (err) {
      return [err instanceof GraphQLError ? err : error('Unparseable query', 'GRAPHQL_PARSE_FAILED')];
    }
    const schema = plainSchema(options.schema());
    const invalid = validate(schema, document, [...specifiedRules, ...limitRules()]);
    if (invalid.length > 0) return invalid;
    const operation = getOperationAST(document, payload.operationName);
    if (operation?.operation !== 'subscription')
      return [error('Only subscriptions are served over WebSocket; send queries over HTTP', 'BAD_REQUEST')];
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
    const root = fieldsOf(operation.selectionSet, fragments).find((f) => f.name.value === ROOT_FIELD);
    const query = root && refetchQuery(document, operation, root);
    if (!root || !query || query instanceof GraphQLError)
      return [query instanceof GraphQLError ? query : error('Unknown subscription', 'BAD_REQUEST')];
    const variables = payload.variables ?? {};
    const idNode = root.arguments?.find((a) => a.name.value === 'orderId')?.value;
    const orderId = idNode && valueFromAST(idNode, GraphQLID, variables);
    if (typeof orderId !== 'string') return [error('orderId must be an ID', 'BAD_USER_INPUT')];

    const queryText = print(query);
    const fetchOnce = () => refetch(admitted, query, queryText, variables, orderId);
    const revoked = connection.revoked ?? (() => Promise.resolve(false));
    // Watch before the first fetch: an event landing meanwhile triggers a refetch instead of being lost.
    let last = '';
    let running = false;
    let again = false;
    const channel = new Channel<Refetched>(() => {
      stopWatching();
      metrics.activeSubscriptions.dec();
    });
    const publish = (result: Refetched | readonly GraphQLError[]) => {
      if (Array.isArray(result)) {
        admitted.logger.warn({ orderId, errors: result.map((e) => e.message) }, 'order refetch failed');
        return;
      }
      // An event that changed nothing this view shows (a redelivery, the creation event after subscribing).
      const text = JSON.stringify(result);
      if (text === last) return;
      last = text;
      channel.push(result as Refetched);
    };
    // One refetch at a time per subscription, so an older answer never overtakes a newer one; events that
    // arrive meanwhile collapse into one more refetch.
    const onEvent = () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      void (async () => {
        do {
          again = false;
          try {
            // The revocation check rides alongside the refetch (batched across sockets), so it adds no latency;
            // a revoked socket is being closed and gets nothing more.
            const [result, gone] = await Promise.all([fetchOnce(), revoked()]);
            if (!gone) publish(result);
          } catch (err) {
            admitted.logger.warn({ err, orderId }, 'order refetch failed');
          }
        } while (again);
        running = false;
      })();
    };
    const stopWatching = feed.watch(orderId, onEvent);
    metrics.activeSubscriptions.inc();
    running = true;
    let first: Refetched | readonly GraphQLError[];
    try {
      first = await fetchOnce();
    } catch (err) {
      await channel.return();
      throw err;
    }
    if (Array.isArray(first)) {
      await channel.return();
      return first;
    }
    publish(first);
    running = false;
    if (again) onEvent();
    return {
      schema,
      document,
      ...(payload.operationName ? { operationName: payload.operationName } : {}),
      variableValues: variables,
      fieldResolver: resolveFromRefetch,
      subscribeFieldResolver: () => channel,
    };
  };

  const server = useServer<Record<string, unknown> | undefined, Connection>(
    {
      isProd: options.isProduction,
      onConnect: async (ctx) => {
        const authorization = ctx.connectionParams?.['authorization'];
        const { request, socket } = ctx.extra;
        try {
          ctx.extra.admitted = await admit(
            request,
            requestIdFrom(request.headers[REQUEST_ID_HEADER]),
            typeof authorization === 'string' ? authorization : undefined,
          );
        } catch (err) {
          if (!(err instanceof Rejection)) throw err;
          // 4403 for a refused token (the protocol's Forbidden); a limit or an outage says so in its own code.
          if (err.status === 429) socket.close(4429, 'Too many requests');
          else if (err.status === 503) socket.close(1013, 'Try again later');
          return false;
        }
        const expiresAt = ctx.extra.admitted.caller?.session.expiresAt;
        if (expiresAt !== undefined) {
          // The token is checked once, here: the socket lives no longer than it does.
          const timer = setTimeout(
            () => socket.close(CloseCode.Forbidden, 'Access token expired'),
            Math.max(0, expiresAt * 1000 - Date.now()),
          );
          socket.once('close', () => clearTimeout(timer));
        }
        const caller = ctx.extra.admitted.caller;
        if (caller) {
          // Checked again on every event and every sweep: a logout or revocation closes the socket like expiry.
          const watch = revocations.watch(caller, () => socket.close(CloseCode.Forbidden, 'Access token revoked'));
          ctx.extra.revoked = watch.check;
          socket.once('close', () => watch.stop());
        }
        return true;
      },
      onSubscribe: async (ctx, _id, payload) => {
        try {
          return await onSubscribe(ctx.extra, payload, Object.keys(ctx.subscriptions).length);
        } catch (err) {
          logger.error({ err }, 'subscription failed to start');
          return [error('Internal server error', 'INTERNAL_SERVER_ERROR')];
        }
      },
    },
    wss,
    KEEP_ALIVE_MS,
  );

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://router').pathname;
    if (closing || path !== '/graphql') {
      socket.end(`HTTP/1.1 ${closing ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  return {
    async close() {
      closing = true;
      revocations.stop();
      await server.dispose();
    },
  };
}
