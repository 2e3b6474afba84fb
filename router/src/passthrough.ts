import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Experimental_DidResolveQueryPlanCallback } from '@apollo/gateway';
import {
  type DocumentNode,
  type GraphQLSchema,
  getVariableValues,
  Kind,
  type OperationDefinitionNode,
  OperationTypeNode,
  parse,
  print,
  type VariableDefinitionNode,
} from 'graphql';
import type { RouterContext } from './context.ts';
import type { RawAnswer, SignedDataSource } from './data-source.ts';
import { LIMITS, operationCost } from './limits.ts';
import type { RouterMetrics } from './metrics.ts';

/** A query whose whole plan is one fetch of the client's own operation from one subgraph. */
interface Plan {
  readonly subgraph: string;
  /** The fetch as the gateway sends it: the client's operation under the planner's name. */
  readonly query: string;
  readonly operationName: string | undefined;
  /** The variables the fetch uses (the gateway sends only those). */
  readonly variableUsages: readonly string[];
  /** What the full path checked the operation against: the API schema, its variables, its cost. */
  readonly schema: GraphQLSchema;
  readonly document: DocumentNode;
  readonly operation: OperationDefinitionNode;
  /** Empty: the cost cannot change, and was checked once; otherwise it is checked per request. */
  readonly variableDefinitions: readonly VariableDefinitionNode[];
  /** The operation's name, for the GraphQL metrics (as Apollo's path labels it). */
  readonly label: string | null;
}

type QueryPlanEvent = Parameters<Experimental_DidResolveQueryPlanCallback>[0];

/** Records one served operation in the GraphQL request metrics the Apollo path records too. */
export type RecordOperation = (operationName: string | null, seconds: number) => void;

const MAX_PLANS = 1000;
const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A request's key: its operation name with its text, or with its persisted-query hash when it sends none. */
function keyOf(operationName: unknown, query: unknown, extensions: unknown): string | null {
  const name = typeof operationName === 'string' ? operationName : '';
  if (typeof query === 'string') return `q\u0000${name}\u0000${query}`;
  const persisted = isRecord(extensions) ? extensions['persistedQuery'] : undefined;
  const hash = isRecord(persisted) ? persisted['sha256Hash'] : undefined;
  return typeof hash === 'string' ? `h\u0000${name}\u0000${hash}` : null;
}

/** The content type Apollo's CSRF prevention and our JSON reading both take as a plain GraphQL POST. */
function isPlainJsonPost(req: IncomingMessage): boolean {
  if (req.method !== 'POST') return false;
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') return false;
  // Apollo picks the response's media type from Accept; only the answers it would give as application/json.
  const accept = req.headers.accept;
  return accept === undefined || accept === '*/*' || accept.toLowerCase().startsWith('application/json');
}

/**
 * The router's passthrough for single-fetch queries. Most of a router's own time on a simple query is Apollo's
 * request pipeline around one subgraph fetch: document and plan cache lookups, then result shaping and
 * serialising again what the subgraph has just serialised. When the full path has planned a query as exactly
 * one fetch of the client's own operation (same selections, aliases and variables, nothing required from
 * another subgraph), the subgraph's answer *is* the router's answer; later requests with the same text (or
 * persisted-query hash) skip the pipeline and pass the subgraph's bytes back as they came.
 *
 * Nothing the full path guarantees is skipped:
 * - only what the full path validated, planned and let through (trusted documents, limits) is ever learned,
 *   keyed by the exact text or hash it came with; a reloaded supergraph forgets everything;
 * - each request's variables are coerced against the API schema (an @inaccessible value is refused) and its
 *   cost checked when variables can change it, and the caller is admitted and confirmed (revocation lookup)
 *   before anything is sent in its name, through the same data source (identity token, dedupe, deadline);
 * - queries only, and only a clean answer is passed through: a non-200, errors, extensions, a transport
 *   failure, bad variables or too high a cost go to the full path, which answers them as ever (a query may
 *   safely be sent twice).
 * Apollo usage reporting needs every operation to pass through Apollo, so the router turns this off with it.
 */
export class Passthrough {
  readonly #plans = new Map<string, Plan>();
  /** Keys found not to be one fetch of the client's operation, so their plans are not parsed again each time. */
  readonly #others = new Set<string>();
  #schema: GraphQLSchema | undefined;
  readonly #sources = new Map<string, SignedDataSource>();
  readonly #record: RecordOperation;
  readonly #metrics: Pick<RouterMetrics, 'passthrough'> | undefined;

  constructor(options: { record: RecordOperation; metrics?: Pick<RouterMetrics, 'passthrough'> }) {
    this.#record = options.record;
    this.#metrics = options.metrics;
  }

  /** The gateway's data source for a subgraph (the newest, after a supergraph reload). */
  addSource(name: string, source: SignedDataSource): void {
    this.#sources.set(name, source);
  }

  /**
   * A new supergraph (its API schema): what was learned of the old one's plans no longer holds, and a request
   * still planned on the old one teaches nothing.
   */
  forget(schema: GraphQLSchema): void {
    this.#schema = schema;
    this.#plans.clear();
    this.#others.clear();
  }

  /** `experimental_didResolveQueryPlan`: learns a request's plan when it is one fetch of the client's operation. */
  readonly learn = ({ queryPlan, requestContext }: QueryPlanEvent): void => {
    const { request } = requestContext;
    if (this.#schema && requestContext.schema !== this.#schema) return;
    const keys = [
      keyOf(request.operationName, request.query, undefined),
      keyOf(request.operationName, undefined, request.extensions),
    ].filter((key): key is string => key !== null);
    if (keys.length === 0 || keys.every((key) => this.#plans.has(key) || this.#others.has(key))) return;
    const plan = this.#planOf(queryPlan, requestContext);
    if (!plan) {
      if (this.#others.size >= MAX_PLANS) this.#others.clear();
      for (const key of keys) this.#others.add(key);
      return;
    }
    if (this.#plans.size >= MAX_PLANS) this.#plans.delete(this.#plans.keys().next().value as string);
    for (const key of keys) this.#plans.set(key, plan);
  };

  #planOf(
    queryPlan: QueryPlanEvent['queryPlan'],
    { document, operation, schema }: QueryPlanEvent['requestContext'],
  ): Plan | undefined {
    const node = queryPlan.node;
    if (operation.operation !== 'query' || node?.kind !== 'Fetch') return;
    if (node.requires?.length || node.inputRewrites?.length || node.outputRewrites?.length) return;
    if (node.contextRewrites?.length || node.hasDefers || node.operationKind !== 'query') return;
    if (document.definitions.length !== 1 || operation.directives?.length) return;
    if (!this.#sources.has(node.serviceName)) return;
    const fetched = parse(node.operation).definitions[0];
    if (fetched?.kind !== Kind.OPERATION_DEFINITION) return;
    // The same selections (fields, aliases, arguments, directives) and variables: then the gateway's result
    // shaping would hand back exactly what the subgraph answered.
    if (print(fetched.selectionSet) !== print(operation.selectionSet)) return;
    const variables = (defs: readonly VariableDefinitionNode[] | undefined) => (defs ?? []).map(print).sort().join();
    if (variables(fetched.variableDefinitions) !== variables(operation.variableDefinitions)) return;
    const variableDefinitions = operation.variableDefinitions ?? [];
    if (variableDefinitions.length === 0 && operationCost(schema, document, operation, {}) > LIMITS.maxCost) return;
    return {
      subgraph: node.serviceName,
      query: node.operation,
      operationName: node.operationName,
      variableUsages: node.variableUsages ?? [],
      schema,
      document,
      operation,
      variableDefinitions,
      label: operation.name?.value ?? null,
    };
  }

  /**
   * Answers the request when it is a learned single-fetch query and the subgraph's answer is clean: true when
   * it has answered, false to leave it to the full path. Throws the admission's Rejection when the caller is
   * refused (as the full path's data sources and answer would).
   */
  async serve(req: IncomingMessage, res: ServerResponse, body: unknown, context: RouterContext): Promise<boolean> {
    if (this.#plans.size === 0 || !isRecord(body) || !isPlainJsonPost(req)) return false;
    // Text and extensions together (an APQ registration, whose hash Apollo checks against the text): Apollo's.
    if (typeof body['query'] === 'string' && body['extensions'] !== undefined) return false;
    const key = keyOf(body['operationName'], body['query'], body['extensions']);
    const plan = key === null ? undefined : this.#plans.get(key);
    if (!plan) return false;
    const started = performance.now();
    const given = body['variables'] ?? {};
    if (!isRecord(given)) return this.#fallback();
    if (plan.variableDefinitions.length > 0) {
      if (getVariableValues(plan.schema, plan.variableDefinitions, given).errors) return this.#fallback();
      if (operationCost(plan.schema, plan.document, plan.operation, given) > LIMITS.maxCost) return this.#fallback();
    }
    const source = this.#sources.get(plan.subgraph);
    if (!source) return this.#fallback();
    await context.confirmed;
    const variables: Record<string, unknown> = {};
    for (const name of plan.variableUsages) if (name in given) variables[name] = given[name];
    let answer: RawAnswer;
    try {
      answer = await source.fetchRaw(
        context,
        { query: plan.query, variables, operationName: plan.operationName },
        OperationTypeNode.QUERY,
      );
    } catch {
      return this.#fallback();
    }
    // Errors and extensions are the full path's to shape (masking, codes, paths); so is anything but a 200.
    if (answer.status !== 200 || answer.text.includes('"errors"') || answer.text.includes('"extensions"'))
      return this.#fallback();
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(answer.text),
    });
    res.end(answer.text);
    this.#record(plan.label, (performance.now() - started) / 1000);
    this.#metrics?.passthrough.inc({ outcome: 'served' });
    return true;
  }

  #fallback(): false {
    this.#metrics?.passthrough.inc({ outcome: 'full_path' });
    return false;
  }
}
