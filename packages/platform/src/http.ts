import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ApolloServer, type BaseContext, HeaderMap, type HTTPGraphQLResponse } from '@apollo/server';

export class PayloadTooLargeError extends Error {
  readonly status = 413;
}

/** Reads the whole request body, refusing more than `limitBytes` before buffering it. */
export async function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) throw new PayloadTooLargeError('request body too large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) throw new PayloadTooLargeError('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function toHeaderMap(req: IncomingMessage): HeaderMap {
  const headers = new HeaderMap();
  // for…in rather than Object.entries: no array of pairs built per request just to be walked once.
  const incoming = req.headers;
  for (const key in incoming) {
    const value = incoming[key];
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

async function writeApolloResponse(res: ServerResponse, response: HTTPGraphQLResponse): Promise<void> {
  for (const [key, value] of response.headers) res.setHeader(key, value);
  res.statusCode = response.status ?? 200;
  if (response.body.kind === 'complete') {
    res.end(response.body.string);
    return;
  }
  for await (const chunk of response.body.asyncIterator) res.write(chunk);
  res.end();
}

/**
 * Serves one GraphQL HTTP request with Apollo Server's integration API: the JSON body is parsed here (within
 * a size limit) so that a malformed body is a clean 400, never an unhandled exception.
 */
export async function handleGraphQL<TContext extends BaseContext>(
  server: ApolloServer<TContext>,
  req: IncomingMessage,
  res: ServerResponse,
  options: {
    bodyLimitBytes: number;
    context: () => Promise<TContext>;
    /** `req.url` as the service shell already parsed it (saves parsing it again per request). */
    url?: URL;
    /** Awaited before anything is written; when it rejects nothing is, and the rejection is thrown. */
    beforeAnswer?: () => Promise<void>;
    /** Given the parsed body of a POST before Apollo sees it: true when it has answered the request itself. */
    shortcut?: (body: unknown) => Promise<boolean>;
  },
): Promise<void> {
  let body: unknown;
  if (req.method === 'POST') {
    const raw = await readBody(req, options.bodyLimitBytes);
    const type = req.headers['content-type'] ?? '';
    if (raw.length > 0 && /json/i.test(type)) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        await options.beforeAnswer?.();
        sendJson(res, 400, {
          errors: [{ message: 'Request body is not valid JSON', extensions: { code: 'BAD_REQUEST' } }],
        });
        return;
      }
    } else {
      body = raw.length > 0 ? raw.toString('utf8') : undefined;
    }
    if (options.shortcut && (await options.shortcut(body))) return;
  }
  const url = options.url ?? new URL(req.url ?? '/', 'http://localhost');
  const response = await server.executeHTTPGraphQLRequest({
    httpGraphQLRequest: {
      method: (req.method ?? 'GET').toUpperCase(),
      headers: toHeaderMap(req),
      search: url.search,
      body,
    },
    context: options.context,
  });
  await options.beforeAnswer?.();
  await writeApolloResponse(res, response);
}
