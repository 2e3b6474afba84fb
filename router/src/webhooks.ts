import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  IDENTITY_HEADER,
  type IdentitySigner,
  type Logger,
  REQUEST_ID_HEADER,
  readBody,
  type SubgraphRoutes,
  sendJson,
} from '@mall/platform';

/** The providers whose callbacks the router takes; any other name is 404 here, before the subgraph. */
export const PAYMENT_PROVIDERS = ['sandbox', 'alipay', 'wechatpay'] as const;
/** Callbacks are small; anything larger is refused before it is read (413). */
export const WEBHOOK_BODY_LIMIT_BYTES = 64 * 1024;

const WEBHOOK = /^\/webhooks\/payments\/([^/]+)$/;
const SANDBOX_PAGE = /^\/payments\/sandbox\/[^/]+$/;
/** The only client headers a provider's callback needs; nothing else of the client's reaches the subgraph. */
const PROVIDER_HEADERS = /^(content-type|mall-signature|wechatpay-(timestamp|nonce|signature|serial))$/;

/**
 * Proxies payment callbacks (`POST /webhooks/payments/<provider>`) and the sandbox checkout page
 * (`/payments/sandbox/<reference>`) to the payment subgraph: the raw bytes unchanged, only the provider's
 * headers, signed with the router's service identity (no user token is involved), and answered with exactly
 * the subgraph's status and body.
 */
export function paymentProxy(options: { paymentUrl: string; signer: IdentitySigner; logger: Logger }): SubgraphRoutes {
  const base = options.paymentUrl.replace(/\/graphql$/, '').replace(/\/$/, '');

  async function forward(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const body = req.method === 'POST' ? await readBody(req, WEBHOOK_BODY_LIMIT_BYTES) : undefined;
    const requestId = randomUUID();
    const headers: Record<string, string> = {
      [IDENTITY_HEADER]: await options.signer.sign({ userId: null, roles: [], requestId, audience: 'payment' }),
      [REQUEST_ID_HEADER]: requestId,
    };
    for (const [name, value] of Object.entries(req.headers))
      if (PROVIDER_HEADERS.test(name) && typeof value === 'string') headers[name] = value;
    let response: Response;
    try {
      response = await fetch(`${base}${url.pathname}`, {
        method: req.method ?? 'GET',
        headers,
        ...(body ? { body } : {}),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      options.logger.warn({ err, path: url.pathname }, 'payment subgraph unreachable');
      return sendJson(res, 502, { error: 'Payment service unavailable' });
    }
    const reply = Buffer.from(await response.arrayBuffer());
    res.writeHead(response.status, {
      'content-type': response.headers.get('content-type') ?? 'application/octet-stream',
      'content-length': reply.length,
      [REQUEST_ID_HEADER]: requestId,
    });
    res.end(reply);
  }

  return async (req, res, url) => {
    const webhook = WEBHOOK.exec(url.pathname);
    if (webhook) {
      if (!(PAYMENT_PROVIDERS as readonly string[]).includes(webhook[1] as string))
        sendJson(res, 404, { error: 'Unknown payment provider' });
      else if (req.method !== 'POST') sendJson(res, 405, { error: 'Method not allowed' }, { allow: 'POST' });
      else await forward(req, res, url);
      return true;
    }
    if (!SANDBOX_PAGE.test(url.pathname)) return false;
    if (req.method !== 'GET' && req.method !== 'POST')
      sendJson(res, 405, { error: 'Method not allowed' }, { allow: 'GET, POST' });
    else await forward(req, res, url);
    return true;
  };
}
