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
