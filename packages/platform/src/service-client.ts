import type { z } from 'zod';
import { AppError, type ErrorCode, isPublicCode } from './errors.ts';
import { IDENTITY_HEADER, type IdentitySigner, REQUEST_ID_HEADER } from './identity.ts';

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
  readonly #signer: IdentitySigner;

  constructor(options: { url: string; target: string; signer: IdentitySigner }) {
    this.#url = options.url.endsWith('/graphql') ? options.url : `${options.url.replace(/\/$/, '')}/graphql`;
    this.#target = options.target;
    this.#signer = options.signer;
  }

  /** The peer's service name (the audience of the identity tokens it gets). */
  get target(): string {
    return this.#target;
  }

  async request<T>(query: string, variables: Record<string, unknown>, options: ServiceCallOptions): Promise<T> {
    const token = await this.#signer.sign({
      userId: options.userId ?? null,
      roles: [],
      requestId: options.requestId,
      audience: this.#target,
    });
    const response = await fetch(this.#url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [IDENTITY_HEADER]: token, [REQUEST_ID_HEADER]: options.requestId },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
    });
    const body = (await response.json()) as GraphQLResponse<T>;
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
    if (!response.ok || body.data == null) throw new Error(`${this.#target} call failed with HTTP ${response.status}`);
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
