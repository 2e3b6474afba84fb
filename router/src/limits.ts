import { isIP } from 'node:net';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import type { GraphQLArmorRejectCallback } from '@escape.tech/graphql-armor-types';
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  getNamedType,
  getNullableType,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationRule,
  type ValueNode,
} from 'graphql';
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * What one request may ask of the router. Sized for the public operations (the heaviest, a page of 100
 * orders with their items, costs about 8 000) with room to spare, and far below what hurts a subgraph.
 */
export const LIMITS = {
  maxDepth: 12,
  maxAliases: 30,
  maxCost: 10_000,
  /** Lexical tokens of one document; parsing stops past it, before any work scales with the document. */
  maxTokens: 5_000,
  maxDirectives: 50,
  /** Assumed length of a list field that takes no `first`/`last`. */
  defaultListSize: 10,
  bodyBytes: 256 * 1024,
  /** The whole operation, every subgraph fetch of its query plan included. */
  requestTimeoutMs: 15_000,
  /** One subgraph fetch. */
  subgraphTimeoutMs: 10_000,
  // Generous for a slow client, but bounded: a connection that trickles its headers or body is cut.
  headersTimeoutMs: 10_000,
  receiveTimeoutMs: 30_000,
} as const;

/**
 * Introspection (`__schema`, `__type`) is governed by the introspection switch, not by these limits: the
 * Sandbox's own introspection query is deeper than any product query. `__typename` costs nothing.
 */
const isMeta = (field: FieldNode) => field.name.value.startsWith('__');

function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  return fragments;
}

/**
 * A GraphQL Armor rule whose refusal is reported as a validation error in our words (its own are "Syntax
 * Error: … limit of n exceeded, found m."): Armor's default throws out of `validate`, which Apollo would
 * answer as an internal error instead of GRAPHQL_VALIDATION_FAILED.
 */
function armorRule(
  rule: (options: {
    n: number;
    exposeLimits: true;
    propagateOnRejection: false;
    onReject: GraphQLArmorRejectCallback[];
  }) => ValidationRule,
  limit: number,
  message: (found: number, limit: number) => string,
): ValidationRule {
  return rule({
    n: limit,
    exposeLimits: true,
    propagateOnRejection: false,
    onReject: [
      (context, error) => {
        const found = Number(/found (\d+)/.exec(error.message)?.[1]);
        context?.reportError(new GraphQLError(Number.isFinite(found) ? message(found, limit) : error.message));
      },
    ],
  });
}

/** Deepest field nesting, fragments expanded and not counted as levels; `__schema` is left to the introspection switch. */
export const depthLimitRule = (maxDepth: number): ValidationRule =>
  armorRule(
    (options) => maxDepthRule({ ...options, flattenFragments: true, ignoreIntrospection: true }),
    maxDepth,
    (depth, limit) => `Query depth ${depth} exceeds the limit of ${limit}`,
  );

/** Aliases let one request repeat an expensive field many times over; the cost limit covers the rest. */
export const aliasLimitRule = (maxAliases: number): ValidationRule =>
  armorRule(maxAliasesRule, maxAliases, (aliases, limit) => `Query uses ${aliases} aliases; the limit is ${limit}`);

/** Directives repeated on one field (`@include(if: true)` × 10 000) cost parsing and validation, nothing else. */
export const directiveLimitRule = (maxDirectives: number): ValidationRule =>
  armorRule(
    maxDirectivesRule,
    maxDirectives,
    (directives, limit) => `Query uses ${directives} directives; the limit is ${limit}`,
  );

/** The validation rules of every operation the router runs, HTTP and WebSocket alike. */
export const limitRules = (): ValidationRule[] => [
  depthLimitRule(LIMITS.maxDepth),
  aliasLimitRule(LIMITS.maxAliases),
  directiveLimitRule(LIMITS.maxDirectives),
];

type Variables = Readonly<Record<string, unknown>> | undefined;

function intValue(node: ValueNode, operation: OperationDefinitionNode, variables: Variables): number | undefined {
  if (node.kind === Kind.INT) return Number.parseInt(node.value, 10);
  if (node.kind !== Kind.VARIABLE) return undefined;
  const name = node.name.value;
  const given = variables?.[name];
  if (typeof given === 'number') return given;
  const fallback = operation.variableDefinitions?.find((v) => v.variable.name.value === name)?.defaultValue;
  return fallback?.kind === Kind.INT ? Number.parseInt(fallback.value, 10) : undefined;
}

/**
 * How many items a field may return: its `first`/`last` (argument, variable or schema default), else a
 * guess for plain lists. `edges`/`nodes` are bounded by their connection's `first` and count once.
 */
function listSize(
  node: FieldNode,
  field: GraphQLField<unknown, unknown> | undefined,
  operation: OperationDefinitionNode,
  variables: Variables,
  defaultListSize: number,
): number {
  for (const name of ['first', 'last']) {
    const argument = node.arguments?.find((a) => a.name.value === name);
    const value = argument
      ? intValue(argument.value, operation, variables)
      : field?.args.find((a) => a.name === name)?.defaultValue;
    if (typeof value === 'number' && Number.isFinite(value)) return Math.max(0, value);
  }
  if (!field || !isListType(getNullableType(field.type))) return 1;
  return node.name.value === 'edges' || node.name.value === 'nodes' ? 1 : defaultListSize;
}

/**
 * A simple upper bound of the work an operation asks for: every field costs 1, and whatever is selected
 * under a list counts once per item it may return. Abstract types count every branch.
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Variables,
  defaultListSize: number = LIMITS.defaultListSize,
): number {
  const fragments = fragmentsOf(document);
  const memo = new Map<string, number>();
  const visiting = new Set<string>();
  const costOf = (selectionSet: SelectionSetNode, parent: GraphQLNamedType | undefined): number => {
    let total = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (isMeta(selection)) continue;
        const field =
          parent && (isObjectType(parent) || isInterfaceType(parent))
            ? parent.getFields()[selection.name.value]
            : undefined;
        total += 1;
        if (selection.selectionSet) {
          const size = listSize(selection, field, operation, variables, defaultListSize);
          total += size * costOf(selection.selectionSet, field ? getNamedType(field.type) : undefined);
        }
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
        total += costOf(selection.selectionSet, type ?? undefined);
      } else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        if (!fragment || visiting.has(name)) continue;
        // A fragment's cost does not depend on where it is spread, so spreading it again costs a lookup.
        let cost = memo.get(name);
        if (cost === undefined) {
          visiting.add(name);
          cost = costOf(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value) ?? undefined);
          visiting.delete(name);
          memo.set(name, cost);
        }
        total += cost;
      }
    }
    return total;
  };
  return costOf(operation.selectionSet, schema.getRootType(operation.operation) ?? undefined);
}

/** Checked once the operation is known, because list sizes often come from variables. */
export function costLimitPlugin<TContext extends BaseContext>(
  maxCost: number,
  defaultListSize: number = LIMITS.defaultListSize,
): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, operation, request }) {
          if (!operation) return;
          const cost = operationCost(schema, document, operation, request.variables, defaultListSize);
          if (cost > maxCost) {
            throw new GraphQLError(`Query cost ${cost} exceeds the limit of ${maxCost}`, {
              extensions: { code: 'GRAPHQL_VALIDATION_FAILED', cost, maxCost, http: { status: 400 } },
            });
          }
        },
      };
    },
  };
}

/**
 * Per-IP buckets group IPv6 clients by /64: one subscriber usually holds a whole /64, and counting its
 * addresses one by one would hand it 2^64 buckets.
 */
export function rateLimitSubject(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const address = ip.split('%')[0] ?? ip;
  const [head = '', tail] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  if (right.some((group) => group.includes('.'))) return address; // embedded IPv4 suffix: rare, keep whole
  const groups =
    tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}

export interface RateLimitDecision {
  readonly allowed: boolean;
  readonly count: number;
  readonly limit: number;
  /** Seconds until the window resets; what `Retry-After` says. */
  readonly retryAfterSeconds: number;
}

/**
 * Fixed windows in Redis shared by every router replica, counted by rate-limiter-flexible's `RateLimiterRedis`
 * (one atomic INCR-with-expiry script per hit; the window opens on a bucket's first request). No insurance
 * limiter: when Redis is away the admission fails open (README "Operating it"), rather than each replica
 * counting alone. The wait is bounded by the platform's Redis client (command time-out, no offline queue once up).
 *
 * A bucket Redis has refused once is remembered here until its window ends (rate-limiter-flexible's in-memory
 * block, for exactly the `msBeforeNext` Redis reported): the rest of a flood is refused without a Redis round
 * trip, and `blocked` lets the admission refuse it before the request costs anything else. Every replica still
 * counts through Redis until it has seen the refusal itself, so the shared limit is what it was.
 */
export class RateLimiter {
  readonly #redis: Redis;
  readonly #windowMs: number;
  /** One limiter per limit: rate-limiter-flexible fixes its points at construction. */
  readonly #limiters = new Map<number, RateLimiterRedis>();

  /**
   * `options.batched`: an auto-pipelining client (see `createRedis`), through which counts go when two are
   * already in flight on `redis`, so a crowd's counts leave one write per turn of the event loop instead of
   * one each. A lone request's two counts still go at once, overlapping the rest of its admission: through
   * the batching client alone they would leave only at the end of the turn (+15 to +100 µs per request on an
   * idle router, bench/results/flashsale.md). The counting script is registered on both clients here, before
   * their first command (rate-limiter-flexible registers it when a limiter is made, per limit, on first use).
   */
  constructor(redis: Redis, options: { windowMs?: number; batched?: Redis } = {}) {
    this.#redis = options.batched ? countsThrough(redis, options.batched) : redis;
    this.#windowMs = options.windowMs ?? 60_000;
    void new RateLimiterRedis({ storeClient: this.#redis, keyPrefix: KEY_PREFIX, points: 1, duration: 1 });
  }

  #limiter(limit: number): RateLimiterRedis {
    let limiter = this.#limiters.get(limit);
    if (!limiter) {
      limiter = new RateLimiterRedis({
        storeClient: this.#redis,
        keyPrefix: KEY_PREFIX,
        points: limit,
        duration: Math.max(1, Math.floor(this.#windowMs / 1000)),
        // Over the limit (the first refused hit) → blocked here until the window Redis counts ends.
        inMemoryBlockOnConsumed: limit + 1,
      });
      this.#limiters.set(limit, limiter);
    }
    return limiter;
  }

  /**
   * The refusal of a bucket already known here to be over its limit, without counting or asking Redis; null
   * when it is not (or `limit` is 0). A request refused this way was already counted by the refusal that blocked it.
   */
  blocked(bucket: string, limit: number): RateLimitDecision | null {
    if (limit <= 0) return null;
    const limiter = this.#limiters.get(limit) as InMemoryBlocks | undefined;
    const ms = limiter ? limiter.getInMemoryBlockMsBeforeExpire(limiter.getKey(bucket)) : 0;
    return ms > 0 ? refusedFor(limit, ms) : null;
  }

  /** Counts one request against `bucket`; `limit` 0 means no limit (and no Redis call). */
  async hit(bucket: string, limit: number): Promise<RateLimitDecision | null> {
    if (limit <= 0) return null;
    let result: RateLimiterRes;
    try {
      result = await this.#limiter(limit).consume(bucket);
    } catch (err) {
      // Over the limit rejects with the counter's state; anything else (Redis) is the caller's to handle.
      if (!(err instanceof RateLimiterRes)) throw err;
      // Refused from the in-memory block: nothing was counted (consumedPoints 0), the bucket is still over.
      return err.consumedPoints > limit
        ? { allowed: false, count: err.consumedPoints, limit, retryAfterSeconds: retryAfter(err.msBeforeNext) }
        : refusedFor(limit, err.msBeforeNext);
    }
    return { allowed: true, count: result.consumedPoints, limit, retryAfterSeconds: retryAfter(result.msBeforeNext) };
  }

  /** The Redis key of a bucket (before the client's MALL_REDIS_PREFIX). */
  static key(bucket: string): string {
    return `${KEY_PREFIX}:${bucket}`;
  }
}

/** Counts in flight on the direct client past which further counts wait for the batching client's next write. */
const DIRECT_IN_FLIGHT = 2;

/**
 * The client rate-limiter-flexible is given when counts may be batched: `direct` as it is, except that its
 * counting command (`rlflxIncr`, registered on both clients) goes through `batched` while DIRECT_IN_FLIGHT
 * counts are awaiting Redis on `direct`: an idle router sends a request's two counts at once, a busy one lets
 * them join the turn's pipeline. Both reach the same Redis and each count is one atomic script, so which
 * connection carries it changes nothing but when it leaves.
 */
function countsThrough(direct: Redis, batched: Redis): Redis {
  type Counting = Redis & { rlflxIncr: (...args: unknown[]) => Promise<unknown> };
  let inFlight = 0;
  const settled = () => {
    inFlight--;
  };
  const count = (...args: unknown[]): Promise<unknown> => {
    if (inFlight >= DIRECT_IN_FLIGHT) return (batched as Counting).rlflxIncr(...args);
    inFlight++;
    const reply = (direct as Counting).rlflxIncr(...args);
    reply.then(settled, settled);
    return reply;
  };
  const defineCommand: Redis['defineCommand'] = (name, definition) => {
    batched.defineCommand(name, definition);
    direct.defineCommand(name, definition);
  };
  return new Proxy(direct, {
    get(target, property, receiver) {
      if (property === 'rlflxIncr') return count;
      if (property === 'defineCommand') return defineCommand;
      return Reflect.get(target, property, receiver);
    },
  });
}

/**
 * The store limiters' own reading of their in-memory block (RateLimiterStoreAbstract, what `consume` checks
 * first); rate-limiter-flexible's typings leave it out. The Redis tests of `blocked` fail if it goes away.
 */
type InMemoryBlocks = RateLimiterRedis & { getInMemoryBlockMsBeforeExpire(rlKey: string): number };

const retryAfter = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** A bucket over its limit whose exact count only Redis knows: at least one past it. */
const refusedFor = (limit: number, ms: number): RateLimitDecision => ({
  allowed: false,
  count: limit + 1,
  limit,
  retryAfterSeconds: retryAfter(ms),
});

const KEY_PREFIX = 'router:rate';
