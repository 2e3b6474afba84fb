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
  type SelectionSetNode,
  type VariableDefinitionNode,
} from 'graphql';
import type { Prefetched, RouterContext } from './context.ts';
import type { RawAnswer, SignedDataSource } from './data-source.ts';
import { LIMITS, operationCost } from './limits.ts';
import type { RouterMetrics } from './metrics.ts';

/**
 * An operation whose plan starts with one fetch of the client's own operation from one subgraph, and whose
 * later fetches (if any) only add fields to entities at given paths of that fetch's answer.
 */
interface Plan {
  readonly operationType: 'query' | 'mutation';
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
  /**
   * Where the plan's later fetches put what they add (response names, `@` for each item of a list). When the
   * first answer has null at every one of them, the gateway makes none of those fetches and its answer is the
   * first one's.
   */
  readonly dependentPaths: readonly (readonly string[])[];
}

type QueryPlanEvent = Parameters<Experimental_DidResolveQueryPlanCallback>[0];
type PlanNode = NonNullable<QueryPlanEvent['queryPlan']['node']>;
type FetchNode = Extract<PlanNode, { kind: 'Fetch' }>;

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

const RESPONSE_NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

/**
 * The plan's first fetch and the paths its later fetches fill: a plan that is one fetch, or a sequence of one
 * fetch then entity fetches flattened into its answer (in sequence or parallel). Anything else: undefined.
 */
function splitPlan(node: PlanNode | undefined): { first: FetchNode; paths: string[][] } | undefined {
  if (node?.kind === 'Fetch') return { first: node, paths: [] };
  if (node?.kind !== 'Sequence' || node.nodes[0]?.kind !== 'Fetch') return undefined;
  const paths: string[][] = [];
  const collect = (later: PlanNode): boolean => {
    if (later.kind === 'Sequence' || later.kind === 'Parallel') return later.nodes.every(collect);
    if (later.kind !== 'Flatten' || later.node.kind !== 'Fetch' || !later.node.requires?.length) return false;
    const path = later.path.map(String);
    if (!path.every((step) => step === '@' || RESPONSE_NAME.test(step))) return false;
    paths.push(path);
    return true;
  };
  return node.nodes.slice(1).every(collect) ? { first: node.nodes[0], paths } : undefined;
}

interface PathTrie {
  end: boolean;
  readonly next: Map<string, PathTrie>;
}

/**
 * The selection set printed with the selections of the fields at `paths` left out (the field itself stays):
 * what the first fetch and the client's operation must agree on outside the later fetches' subtrees.
 */
function printWithout(selectionSet: SelectionSetNode, paths: readonly (readonly string[])[]): string {
  if (paths.length === 0) return print(selectionSet);
  const root: PathTrie = { end: false, next: new Map() };
  for (const path of paths) {
    let at = root;
    for (const step of path) {
      if (step === '@') continue;
      const next = at.next.get(step) ?? { end: false, next: new Map() };
      at.next.set(step, next);
      at = next;
    }
    at.end = true;
  }
  const strip = (set: SelectionSetNode, trie: PathTrie): SelectionSetNode => ({
    ...set,
    selections: set.selections.map((selection) => {
      if (selection.kind === Kind.INLINE_FRAGMENT)
        return { ...selection, selectionSet: strip(selection.selectionSet, trie) };
      if (selection.kind !== Kind.FIELD || !selection.selectionSet) return selection;
      const below = trie.next.get(selection.alias?.value ?? selection.name.value);
      if (!below) return selection;
      if (below.end) return { ...selection, selectionSet: undefined };
      return { ...selection, selectionSet: strip(selection.selectionSet, below) };
    }),
  });
  return print(strip(selectionSet, root));
}

/** Whether the answer holds null at `path` (or above it): then no later fetch has anything to add there. */
function nullAt(value: unknown, path: readonly string[], at = 0): boolean {
  if (value === null) return true;
  if (at === path.length || value === undefined) return false;
  const step = path[at] as string;
  if (step === '@') return Array.isArray(value) && value.every((item) => nullAt(item, path, at + 1));
  return isRecord(value) && nullAt(value[step], path, at + 1);
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
 * The router's passthrough. Most of a router's own time on a simple operation is Apollo's request pipeline
 * around one subgraph fetch: document and plan cache lookups, then result shaping and serialising again what
 * the subgraph has just serialised. When the full path has planned a query or mutation as one fetch of the
 * client's own operation (same selections, aliases and variables, nothing required from another subgraph),
 * the subgraph's answer *is* the router's answer; later requests with the same text (or persisted-query hash)
 * skip the pipeline and pass the subgraph's bytes back as they came. A plan whose later fetches only add
 * fields to entities the first one points at (`buyFlashSale { … order { id status } }`) is one fetch too
 * whenever the first answer has null where they would add them (no order yet): the gateway would skip them.
 *
 * Nothing the full path guarantees is skipped:
 * - only what the full path validated, planned and let through (trusted documents, limits) is ever learned,
 *   keyed by the exact text or hash it came with; a reloaded supergraph forgets everything;
 * - each request's variables are coerced against the API schema (an @inaccessible value is refused) and its
 *   cost checked when variables can change it, and the caller is admitted and confirmed (revocation lookup)
 *   before anything is sent in its name, through the same data source (identity token, dedupe, deadline);
 * - only a clean answer is passed through: bad variables or too high a cost go to the full path before any
 *   fetch; a non-200, errors, extensions, a transport failure, or entities the later fetches must fill go to
 *   the full path with the fetch already made (`RouterContext.prefetched`), which the gateway's data source
 *   takes instead of sending it again: the full path answers as ever, and a mutation takes effect once.
 * Apollo usage reporting needs every operation to pass through Apollo, so the router turns this off with it.
 */
export class Passthrough {
  readonly #plans = new Map<string, Plan>();
  /** Keys whose plans are not of that shape, so their plans are not parsed again each time. */
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

  /** `experimental_didResolveQueryPlan`: learns a request's plan when it has the shape described above. */
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
    const operationType = operation.operation;
    if (operationType !== 'query' && operationType !== 'mutation') return;
    const split = splitPlan(queryPlan.node);
    if (!split) return;
    const { first: node, paths } = split;
    if (node.requires?.length || node.inputRewrites?.length || node.outputRewrites?.length) return;
    if (node.contextRewrites?.length || node.hasDefers || node.operationKind !== operationType) return;
    if (document.definitions.length !== 1 || operation.directives?.length) return;
    if (!this.#sources.has(node.serviceName)) return;
    const fetched = parse(node.operation).definitions[0];
    if (fetched?.kind !== Kind.OPERATION_DEFINITION) return;
    // The same selections (fields, aliases, arguments, directives) and variables outside what later fetches
    // add: then, when those have nothing to add, the gateway's result shaping would hand back exactly what
    // the subgraph answered.
    if (printWithout(fetched.selectionSet, paths) !== printWithout(operation.selectionSet, paths)) return;
    const variables = (defs: readonly VariableDefinitionNode[] | undefined) => (defs ?? []).map(print).sort().join();
    if (variables(fetched.variableDefinitions) !== variables(operation.variableDefinitions)) return;
    const variableDefinitions = operation.variableDefinitions ?? [];
    if (variableDefinitions.length === 0 && operationCost(schema, document, operation, {}) > LIMITS.maxCost) return;
    return {
      operationType,
      subgraph: node.serviceName,
      query: node.operation,
      operationName: node.operationName,
      variableUsages: node.variableUsages ?? [],
      schema,
      document,
      operation,
      variableDefinitions,
      label: operation.name?.value ?? null,
      dependentPaths: paths,
    };
  }

  /**
   * Answers the request when its plan was learned and the subgraph's answer is clean: true when it has
   * answered, false to leave it to the full path. Throws the admission's Rejection when the caller is
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
    const sent = { subgraph: plan.subgraph, query: plan.query, operationType: plan.operationType };
    let answer: RawAnswer;
    try {
      answer = await source.fetchRaw(
        context,
        { query: plan.query, variables, operationName: plan.operationName },
        plan.operationType === 'mutation' ? OperationTypeNode.MUTATION : OperationTypeNode.QUERY,
      );
    } catch (error) {
      return this.#fallback(context, { ...sent, error });
    }
    // Errors and extensions are the full path's to shape (masking, codes, paths); so is anything but a 200.
    if (answer.status !== 200 || answer.text.includes('"errors"') || answer.text.includes('"extensions"'))
      return this.#fallback(context, { ...sent, answer });
    if (plan.dependentPaths.length > 0) {
      // The later fetches have something to add: the full path makes them, starting from this answer (and a
      // body that is not a GraphQL response is the full path's to refuse).
      let parsed: unknown;
      try {
        parsed = JSON.parse(answer.text);
      } catch {
        return this.#fallback(context, { ...sent, answer });
      }
      if (!isRecord(parsed)) return this.#fallback(context, { ...sent, answer });
      if (!plan.dependentPaths.every((path) => nullAt(parsed['data'], path)))
        return this.#fallback(context, { ...sent, answer, parsed });
    }
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(answer.text),
    });
    res.end(answer.text);
    this.#record(plan.label, (performance.now() - started) / 1000);
    this.#metrics?.passthrough.inc({ outcome: 'served' });
    return true;
  }

  /** Leaves the request to the full path, with the fetch already made for it (which it then does not repeat). */
  #fallback(context?: RouterContext, prefetched?: Prefetched): false {
    if (context && prefetched) context.prefetched = prefetched;
    this.#metrics?.passthrough.inc({ outcome: 'full_path' });
    return false;
  }
}
