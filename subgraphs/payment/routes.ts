import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  IDENTITY_HEADER,
  IdentityVerifier,
  type Logger,
  REQUEST_ID_HEADER,
  readBody,
  type SubgraphRoutes,
  sendJson,
} from '@mall/platform';
import type { PrismaClient } from './data/generated/client.ts';
import * as payments from './data/payments.ts';
import { isProviderName } from './domain/payment.ts';
import { SANDBOX_PAGE_PATH, SIGNATURE_HEADER, signSandboxCallback } from './providers/sandbox.ts';
import type { PaymentService } from './service.ts';

export const WEBHOOK_PATH = '/webhooks/payments/';
/** Larger callbacks are refused before they are read (the router enforces the same bound). */
export const CALLBACK_BODY_LIMIT_BYTES = 64 * 1024;

const WEBHOOK = /^\/webhooks\/payments\/([a-z0-9_-]{1,40})$/;
const PAGE = /^\/payments\/sandbox\/(sbx_[a-f0-9]{24})$/;

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function sendHtml(res: ServerResponse, status: number, title: string, body: string): void {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
  res.end(html);
}

/**
 * The payment subgraph's HTTP routes, reached only through the router (which signs each forwarded request with
 * its service identity, checked here; no user token is needed):
 * - `POST /webhooks/payments/<provider>`: provider callbacks, raw body and provider headers as received.
 * - `GET /payments/sandbox/<reference>`: the sandbox checkout page; `POST` with `decision=approve|decline`
 *   makes the sandbox provider send its signed callback to the public webhook URL, as a real provider would.
 */
export function paymentRoutes(options: {
  readonly service: PaymentService;
  readonly prisma: PrismaClient;
  readonly internalSecret: string;
  readonly webhookSecret: string;
  readonly publicUrl: string;
  readonly logger: Logger;
}): SubgraphRoutes {
  const { service, logger } = options;
  const verifier = new IdentityVerifier(options.internalSecret, 'payment', ['router']);

  async function fromRouter(req: IncomingMessage, res: ServerResponse): Promise<string | null> {
    try {
      return (await verifier.verify(header(req, IDENTITY_HEADER))).requestId;
    } catch {
      sendJson(res, 401, { error: 'Requests must come through the router' });
      return null;
    }
  }

  async function webhook(req: IncomingMessage, res: ServerResponse, provider: string): Promise<void> {
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'Method not allowed' }, { allow: 'POST' });
    const requestId = await fromRouter(req, res);
    if (requestId === null) return;
    if (!isProviderName(provider)) return sendJson(res, 404, { error: 'Unknown payment provider' });
    const body = await readBody(req, CALLBACK_BODY_LIMIT_BYTES);
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
    const reply = await service.handleCallback(provider, { headers, body }, requestId);
    if (!reply) return sendJson(res, 404, { error: 'Payment provider not enabled' });
    res.writeHead(reply.status, { 'content-type': reply.contentType, 'content-length': Buffer.byteLength(reply.body) });
    res.end(reply.body);
  }

  async function page(req: IncomingMessage, res: ServerResponse, reference: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'POST')
      return sendJson(res, 405, { error: 'Method not allowed' }, { allow: 'GET, POST' });
    if ((await fromRouter(req, res)) === null) return;
    const payment = await payments.findByReference(options.prisma, 'sandbox', reference);
    if (!payment) return sendHtml(res, 404, 'Payment not found', '');
    const amount = `${(payment.amount.amount / 100).toFixed(2)} ${payment.amount.currency}`;
    if (payment.status !== 'PENDING') return sendHtml(res, 409, `Payment ${payment.status.toLowerCase()}`, '');
    if (req.method === 'GET')
      return sendHtml(
        res,
        200,
        'Sandbox payment',
        `<p>Pay ${escapeHtml(amount)}?</p><form method="post"><button name="decision" value="approve">Approve</button> <button name="decision" value="decline">Decline</button></form>`,
      );
    const decision = new URLSearchParams((await readBody(req, 1024)).toString('utf8')).get('decision');
    if (decision !== 'approve' && decision !== 'decline') return sendHtml(res, 400, 'Choose approve or decline', '');
    const body = JSON.stringify({
      id: `evt_${randomUUID()}`,
      type: decision === 'approve' ? 'payment.succeeded' : 'payment.failed',
      data: { providerReference: reference, amount: payment.amount.amount, currency: payment.amount.currency },
    });
    // The provider calls the public webhook URL, through the router, like any provider.
    const delivered = await fetch(`${options.publicUrl}${WEBHOOK_PATH}sandbox`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [SIGNATURE_HEADER]: signSandboxCallback(options.webhookSecret, body),
        [REQUEST_ID_HEADER]: randomUUID(),
      },
      body,
      signal: AbortSignal.timeout(10_000),
    }).catch((err: unknown) => {
      logger.warn({ err }, 'sandbox callback could not be delivered');
      return null;
    });
    if (!delivered?.ok) return sendHtml(res, 502, 'The payment callback was not accepted; try again', '');
    sendHtml(res, 200, decision === 'approve' ? 'Payment approved' : 'Payment declined', '');
  }

  return async (req, res, url) => {
    const hook = WEBHOOK.exec(url.pathname);
    if (hook) {
      await webhook(req, res, hook[1] as string);
      return true;
    }
    if (url.pathname.startsWith(WEBHOOK_PATH)) {
      sendJson(res, 404, { error: 'Unknown payment provider' });
      return true;
    }
    const sandbox = PAGE.exec(url.pathname);
    if (sandbox) {
      await page(req, res, sandbox[1] as string);
      return true;
    }
    if (!url.pathname.startsWith(SANDBOX_PAGE_PATH)) return false;
    sendHtml(res, 404, 'Payment not found', '');
    return true;
  };
}
