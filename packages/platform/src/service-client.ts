import { Agent, request } from 'undici';
import type { z } from 'zod';
import { AppError, type ErrorCode, isPublicCode } from './errors.ts';
import { IDENTITY_HEADER, type IdentitySigner, IdentityTokens, REQUEST_ID_HEADER } from './identity.ts';

/**
 * One keep-alive pool for every peer call of this process: undici's low-level `request` costs about half the
 * CPU of the WHATWG `fetch` wrapped around the same client, on calls made inside user requests (checkout
 * reserving stock, cart pricing lines).
 */
const peers = new Agent({ keepAliveTimeout: 10_000, connections: 64 });

export interface ServiceCallOptions {
  readonly requestId: string;
  /** Acting on behalf of this user, when the call is part of a user's request. */
  readonly userId?: string | null;
  readonly timeoutMs?: number;
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: unknown } & Record<string, unknown> }[];
}

/**
 * Calls a peer subgraph's internal (`@inaccessible`) fields directly, signed as this service. Business
 * errors of the peer come back as the same AppError; transport faults are plain errors (masked upstream).
 */
export class ServiceClient {
  readonly #url: string;
  readonly #target: string;
  readonly #tokens: IdentityTokens;

  constructor(options: { url: string; target: string; signer: IdentitySigner }) {
    this.#url = options.url.endsWith('/graphql') ? options.url : `${options.url.replace(/\/$/, '')}/graphql`;
    this.#target = options.target;
    this.#tokens = new IdentityTokens(options.signer);
  }

  /** The peer's service name (the audience of the identity tokens it gets). */
  get target(): string {
    return this.#target;
  }

  async request<T>(query: string, variables: Record<string, unknown>, options: ServiceCallOptions): Promise<T> {
    const token = this.#tokens.for(this.#target, { userId: options.userId ?? null, roles: [] });
    const response = await request(this.#url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [IDENTITY_HEADER]: token, [REQUEST_ID_HEADER]: options.requestId },
      body: JSON.stringify({ query, variables }),
      // A subgraph answers with its whole body at once, so the wait for headers bounds the call; unlike
      // AbortSignal.timeout, these timers end with the call instead of firing seconds after it.
      headersTimeout: options.timeoutMs ?? 5_000,
      bodyTimeout: options.timeoutMs ?? 5_000,
      dispatcher: peers,
    });
    let body: GraphQLResponse<T>;
    try {
      body = (await response.body.json()) as GraphQLResponse<T>;
    } catch (err) {
      throw new Error(`${this.#target} call failed with HTTP ${response.statusCode}: not JSON`, { cause: err });
    }
    const first = body.errors?.[0];
    if (first) {
      const code = first.extensions?.code;
      if (
        isPublicCode(code) &&
        code !== 'GRAPHQL_VALIDATION_FAILED' &&
        code !== 'GRAPHQL_PARSE_FAILED' &&
        code !== 'BAD_REQUEST'
      ) {
        const { code: _c, ...extensions } = first.extensions ?? {};
        throw new AppError(code as ErrorCode, first.message, extensions);
      }
      throw new Error(`${this.#target} call failed: ${first.message}`);
    }
    const ok = response.statusCode >= 200 && response.statusCode < 300;
    if (!ok || body.data == null) throw new Error(`${this.#target} call failed with HTTP ${response.statusCode}`);
    return body.data;
  }
}

/** A peer's operation with its variables and validated result: `(client, call, variables) => result`. */
export type ServiceOperation<TVariables extends Record<string, unknown>, TResult> = (
  client: ServiceClient,
  call: ServiceCallOptions,
  variables: TVariables,
) => Promise<TResult>;

/**
 * Declares a call to a peer subgraph once: its GraphQL document, the types of its variables and its `data`,
 * and a zod schema of that `data` (which the compiler checks against `TResult`). Every reply is checked
 * against the schema, so a peer whose schema drifted fails loudly at the boundary (as a plain error, masked
 * upstream) instead of handing on a malformed value. Peer business errors still arrive as the same AppError
 * (see ServiceClient.request).
 */
export function defineServiceOperation<TVariables extends Record<string, unknown>, TResult>(
  document: string,
  data: z.ZodType<TResult>,
): ServiceOperation<TVariables, TResult> {
  return async (client, call, variables) => {
    const reply = data.safeParse(await client.request<unknown>(document, variables, call));
    if (!reply.success) {
      const operation = /^\s*(?:query|mutation)\s+(\w+)/.exec(document)?.[1] ?? 'operation';
      throw new Error(`${client.target} answered ${operation} with an unexpected shape`, { cause: reply.error });
    }
    return reply.data;
  };
}
