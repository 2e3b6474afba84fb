import { isIP } from 'node:net';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { defineScript } from '@mall/platform';
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

/** Deepest field nesting of an operation, fragments expanded (each fragment measured once). */
export function operationDepth(
  operation: OperationDefinitionNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
): number {
  const memo = new Map<string, number>();
  const visiting = new Set<string>();
  const depthOf = (selectionSet: SelectionSetNode): number => {
    let max = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (!isMeta(selection)) max = Math.max(max, 1 + (selection.selectionSet ? depthOf(selection.selectionSet) : 0));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        max = Math.max(max, depthOf(selection.selectionSet));
      } else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        // A cycle is reported by graphql-js's own NoFragmentCycles rule; here it just ends the walk.
        if (!fragment || visiting.has(name)) continue;
        let depth = memo.get(name);
        if (depth === undefined) {
          visiting.add(name);
          depth = depthOf(fragment.selectionSet);
          visiting.delete(name);
          memo.set(name, depth);
        }
        max = Math.max(max, depth);
      }
    }
    return max;
  };
  return depthOf(operation.selectionSet);
}

export function depthLimitRule(maxDepth: number): ValidationRule {
  return (context) => {
    const fragments = fragmentsOf(context.getDocument());
    return {
      OperationDefinition(node) {
        const depth = operationDepth(node, fragments);
        if (depth > maxDepth) {
          context.reportError(
            new GraphQLError(`Query depth ${depth} exceeds the limit of ${maxDepth}`, { nodes: [node] }),
          );
        }
      },
    };
  };
}

/** Aliases let one request repeat an expensive field many times over; the cost limit covers the rest. */
export function aliasLimitRule(maxAliases: number): ValidationRule {
  return (context) => {
    let aliases = 0;
    return {
      Field(node) {
        if (node.alias) aliases += 1;
      },
      Document: {
        leave() {
          if (aliases > maxAliases)
            context.reportError(new GraphQLError(`Query uses ${aliases} aliases; the limit is ${maxAliases}`));
        },
      },
    };
  };
}

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

/**
 * INCR and set the window's expiry in one step, so concurrent routers share a count and no key outlives its
 * window. The window opens on the bucket's first request (a fixed window per bucket, no clock needed).
 * Replies with the count and the milliseconds left in the window.
 */
const hitScript = defineScript<[bucketKey: string], [windowMs: number], [number, number]>({
  name: 'mallRouterRateLimitHit',
  lua: `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return { count, ttl }
`,
});

export interface RateLimitDecision {
  readonly allowed: boolean;
  readonly count: number;
  readonly limit: number;
  /** Seconds until the window resets; what `Retry-After` says. */
  readonly retryAfterSeconds: number;
}

export class RateLimiter {
  readonly #redis: Redis;
  readonly #windowMs: number;

  constructor(redis: Redis, options: { windowMs?: number } = {}) {
    this.#redis = redis;
    this.#windowMs = options.windowMs ?? 60_000;
  }

  /** Counts one request against `bucket`; `limit` 0 means no limit (and no Redis call). */
  async hit(bucket: string, limit: number): Promise<RateLimitDecision | null> {
    if (limit <= 0) return null;
    const [count, ttlMs] = await hitScript(this.#redis, [RateLimiter.key(bucket)], [this.#windowMs]);
    return { allowed: count <= limit, count, limit, retryAfterSeconds: Math.max(1, Math.ceil(ttlMs / 1000)) };
  }

  /** The Redis key of a bucket (before the client's MALL_REDIS_PREFIX). */
  static key(bucket: string): string {
    return `router:rate:${bucket}`;
  }
}
