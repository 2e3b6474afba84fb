import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { IDENTITY_HEADER, type IdentityTokens, REQUEST_ID_HEADER } from '@mall/platform';
import { GraphQLError, type GraphQLFormattedError, Kind, type OperationTypeNode } from 'graphql';
import { Agent, type Dispatcher, request } from 'undici';
import type { Prefetched, RouterContext } from './context.ts';
import { LIMITS } from './limits.ts';
import type { RouterMetrics } from './metrics.ts';

/** What the gateway expects back from a data source: a GraphQL response (`http` is only read by Apollo's own). */
type SubgraphResponse = Awaited<ReturnType<GraphQLDataSource['process']>>;

/** One subgraph's answer as received: shared by every request that joined the same in-flight fetch. */
export interface RawAnswer {
  readonly status: number;
  readonly text: string;
}

/**
 * Subgraph connections: undici's low-level `request` on one keep-alive pool per router. The WHATWG `fetch`
 * wrapper around the same client (and Apollo's default data source, which builds node-fetch Headers, Request
 * and Response objects around it) costs several times the CPU per call, paid on every fetch of every request.
 */
export function createSubgraphAgent(): Agent {
  return new Agent({ keepAliveTimeout: 10_000, connections: 128, pipelining: 1 });
}

/** The operation type of a subgraph fetch: from the planner's document, else from the text's first word. */
function operationTypeOf(options: GraphQLDataSourceProcessOptions<RouterContext>): OperationTypeNode | 'unknown' {
  const document = 'document' in options ? options.document : undefined;
  const definition = document?.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION);
  if (definition?.kind === Kind.OPERATION_DEFINITION) return definition.operation;
  const first = /^\s*(\w+|\{)/.exec(options.request.query ?? '')?.[1];
  return first === '{' || first === 'query' ? ('query' as OperationTypeNode) : 'unknown';
}

const unconfirmed = () => new GraphQLError('Invalid access token', { extensions: { code: 'UNAUTHENTICATED' } });

/** Errors a subgraph may answer with HTTP 400 that are the client's doing (a variable its scalar refused). */
const CLIENT_ERROR_CODES = new Set(['BAD_USER_INPUT']);

function clientErrorsOf(text: string): GraphQLFormattedError[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const errors = (parsed as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return undefined;
  const all = errors as { message?: unknown; extensions?: { code?: unknown; problems?: unknown } }[];
  if (!all.every((e) => typeof e.message === 'string' && CLIENT_ERROR_CODES.has(String(e.extensions?.code))))
    return undefined;
  // Only the public parts: the code, and the kit's `problems` (which input field was refused, and why).
  return all.map((e) => ({
    message: e.message as string,
    extensions: {
      code: e.extensions?.code,
      ...(Array.isArray(e.extensions?.problems) ? { problems: e.extensions.problems } : {}),
    },
  }));
}

/** Rejects when `signal` fires; the listener is removed once `work` settles, so none pile up on a long deadline. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined, what: () => string): Promise<T> {
  if (!signal) return work;
  // The signal's reason (a TimeoutError) as the cause: the error formatter answers it as the retryable
  // UNAVAILABLE, not as an internal error.
  const passed = () => new Error(`${what()}: request deadline passed`, { cause: signal.reason });
  if (signal.aborted) return Promise.reject(passed());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(passed());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

export interface SignedDataSourceOptions {
  readonly name: string;
  readonly url: string;
  readonly tokens: IdentityTokens;
  readonly agent: Dispatcher;
  readonly metrics?: Pick<RouterMetrics, 'subgraphFetch' | 'subgraphFetchShared'>;
  /** Share identical in-flight query fetches of the same caller (default true). */
  readonly dedupe?: boolean;
  /** Bound on one fetch (headers, then each body chunk); the request's deadline bounds the whole. */
  readonly timeoutMs?: number;
}

/**
 * Talks to one subgraph on behalf of the router. The outgoing request carries exactly what the router vouches
 * for: an identity token addressed to this subgraph and the request id. Nothing of the client's request
 * (Authorization, cookies, a forged `mall-identity`) is forwarded.
 *
 * Identical query fetches in flight at the same time for the same caller (same identity token, same text and
 * variables) are sent once and their answer handed to each waiter, parsed separately (the gateway merges
 * results in place, so waiters must not share objects). Mutations are never shared: each is its own effect.
 */
export class SignedDataSource implements GraphQLDataSource<RouterContext> {
  readonly #name: string;
  readonly #url: string;
  readonly #tokens: IdentityTokens;
  readonly #agent: Dispatcher;
  readonly #metrics: SignedDataSourceOptions['metrics'];
  readonly #dedupe: boolean;
  readonly #timeoutMs: number;
  readonly #inflight = new Map<string, Promise<RawAnswer>>();

  constructor(options: SignedDataSourceOptions) {
    this.#name = options.name;
    this.#url = options.url;
    this.#tokens = options.tokens;
    this.#agent = options.agent;
    this.#metrics = options.metrics;
    this.#dedupe = options.dedupe ?? true;
    this.#timeoutMs = options.timeoutMs ?? LIMITS.subgraphTimeoutMs;
  }

  async process(options: GraphQLDataSourceProcessOptions<RouterContext>): Promise<SubgraphResponse> {
    const context = 'incomingRequestContext' in options ? options.context : undefined;
    const { query, variables, operationName } = options.request;
    if (!query) throw new Error('subgraph fetch without a query');
    const type = operationTypeOf(options);
    const prefetched = context ? this.#takePrefetched(context, query, type) : undefined;
    if (prefetched && 'error' in prefetched) throw prefetched.error;
    const answer = prefetched?.answer ?? (await this.fetchRaw(context, { query, variables, operationName }, type));
    if (answer.status < 200 || answer.status > 299) {
      // A variable the subgraph's scalar refused is the client's mistake and says so; any other non-2xx means
      // the router and the subgraph disagree (a refused identity token, a body limit): logged in full by the
      // error formatter and masked for the client.
      const clientErrors = answer.status === 400 ? clientErrorsOf(answer.text) : undefined;
      if (clientErrors) return { errors: clientErrors } as SubgraphResponse;
      throw new Error(`subgraph ${this.#name} answered HTTP ${answer.status}: ${answer.text.slice(0, 500)}`);
    }
    if (prefetched?.parsed) return prefetched.parsed as SubgraphResponse;
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.text);
    } catch {
      throw new Error(`subgraph ${this.#name} answered a body that is not JSON: ${answer.text.slice(0, 200)}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error(`subgraph ${this.#name} answered JSON that is not a GraphQL response`);
    return parsed as SubgraphResponse;
  }

  /**
   * The passthrough's fetch of this request when this is the same fetch (taken once). A mutation it already
   * sent is never sent again: should the full path plan it differently (a supergraph reloaded in between), the
   * mutation fetch fails instead of taking effect twice.
   */
  #takePrefetched(context: RouterContext, query: string, type: OperationTypeNode | 'unknown'): Prefetched | undefined {
    const prefetched = context.prefetched;
    if (!prefetched) return undefined;
    if (prefetched.subgraph === this.#name && prefetched.query === query) {
      context.prefetched = undefined;
      return prefetched;
    }
    if (prefetched.operationType === 'mutation' && type !== 'query')
      throw new Error(
        `subgraph ${this.#name}: a mutation the passthrough already sent was planned anew; not sent twice`,
      );
    return undefined;
  }

  /**
   * One fetch in the caller's name, its answer as received (the gateway's fetches, and the passthrough's):
   * after the caller is confirmed, with its identity token, shared with an identical query in flight, bounded
   * by the request's deadline. A non-2xx answer is counted as an error and returned for the caller to judge.
   */
  async fetchRaw(
    context: RouterContext | undefined,
    request: { query: string; variables: Record<string, unknown> | undefined; operationName: string | undefined },
    type: OperationTypeNode | 'unknown',
  ): Promise<RawAnswer> {
    // Nothing goes out in the caller's name before the revocation lookup passed. A refusal surfaces as the
    // public UNAUTHENTICATED here (never logged as ours); the HTTP server answers the refusal itself anyway.
    if (context) await context.confirmed.catch(() => Promise.reject(unconfirmed()));
    const deadline = context?.deadline;
    if (deadline?.aborted)
      throw new Error(`request deadline passed before calling subgraph ${this.#name}`, { cause: deadline.reason });
    const body = JSON.stringify(request);
    const caller = context?.caller;
    const token = this.#tokens.for(this.#name, {
      userId: caller?.userId ?? null,
      roles: caller?.roles ?? [],
      session: caller?.session ?? null,
      clientIp: context?.clientIp ?? null,
    });
    const requestId = context?.requestId;

    const end = this.#metrics?.subgraphFetch.startTimer({ subgraph: this.#name });
    let answer: RawAnswer;
    try {
      if (this.#dedupe && type === 'query') {
        const key = `${token}\n${body}`;
        let shared = this.#inflight.get(key);
        if (shared) this.#metrics?.subgraphFetchShared.inc({ subgraph: this.#name });
        else {
          // Not bound to this caller's deadline: another request may still be waiting on it. Each waiter
          // races its own deadline instead; the fetch itself is bounded by the per-fetch timeouts.
          shared = this.#send(body, token, requestId, undefined).finally(() => this.#inflight.delete(key));
          this.#inflight.set(key, shared);
        }
        answer = await raceAbort(shared, deadline, () => `subgraph ${this.#name}`);
      } else {
        answer = await this.#send(body, token, requestId, deadline);
      }
    } catch (err) {
      end?.({ outcome: 'error' });
      throw err;
    }
    end?.({ outcome: answer.status < 200 || answer.status > 299 ? 'error' : 'ok' });
    return answer;
  }

  /**
   * One POST on the keep-alive pool. Redirects are not followed: a subgraph never redirects, and a signed
   * identity token must not follow one elsewhere.
   */
  async #send(
    body: string,
    token: string,
    requestId: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<RawAnswer> {
    const headers: Record<string, string> = { 'content-type': 'application/json', [IDENTITY_HEADER]: token };
    if (requestId) headers[REQUEST_ID_HEADER] = requestId;
    const response = await request(this.#url, {
      method: 'POST',
      headers,
      body,
      dispatcher: this.#agent,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      ...(signal ? { signal } : {}),
    });
    return { status: response.statusCode, text: await response.body.text() };
  }
}
