import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { PayloadTooLargeError, sendJson } from './http.ts';
import type { Logger } from './logger.ts';
import { traceHttpServer } from './tracing.ts';

export type ReadinessChecks = Record<string, () => Promise<unknown>>;

export interface ServiceHttpOptions {
  readonly logger: Logger;
  readonly readiness: ReadinessChecks;
  /** True once shutdown began: readiness fails at once so traffic moves away before the drain. */
  readonly isStopping: () => boolean;
  /** Handles everything but the health and metrics paths; returns false for "not mine" (404). */
  readonly handle: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;
  /**
   * The public edge (the router): a client's `traceparent` is not continued (it could force sampling or pick
   * trace ids); each request starts its own trace, linked to the client's when one was sent.
   */
  readonly publicEdge?: boolean;
}

const READINESS_TIMEOUT_MS = 2_000;

/**
 * Node checks header and request time-outs on a timer (30 s by default), so a 10 s header time-out could
 * let a slow client hold its socket for 40 s; checking every second enforces them on time.
 */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;

async function checkReadiness(
  checks: ReadinessChecks,
  logger: Logger,
): Promise<{ ok: boolean; checks: Record<string, string> }> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('timed out')), READINESS_TIMEOUT_MS);
          }),
        ]);
        return [name, 'ok'] as const;
      } catch (err) {
        // The driver's own words go to the log, not to whoever can reach the probe.
        logger.warn({ check: name, err }, 'readiness check failed');
        const timedOut = err instanceof Error && err.message === 'timed out';
        return [name, timedOut ? 'timed out' : 'unavailable'] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ok: results.every(([, r]) => r === 'ok'), checks: Object.fromEntries(results) };
}

/**
 * The HTTP shell every service shares: liveness, readiness and a fault barrier. Metrics are not served here
 * (the public port) but on their own listener: `startMetricsServer`.
 */
export function createServiceServer(options: ServiceHttpOptions): Server {
  const { logger } = options;
  // traceHttpServer returns the handler itself when tracing is off: no per-request cost.
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    void (async () => {
      if (req.method === 'GET' && url.pathname === '/health/live') return sendJson(res, 200, { status: 'ok' });
      if (req.method === 'GET' && url.pathname === '/health/ready') {
        if (options.isStopping()) return sendJson(res, 503, { status: 'stopping' });
        const result = await checkReadiness(options.readiness, logger);
        return sendJson(res, result.ok ? 200 : 503, {
          status: result.ok ? 'ok' : 'unavailable',
          checks: result.checks,
        });
      }
      if (!(await options.handle(req, res, url))) sendJson(res, 404, { error: 'not found' });
    })().catch((err: unknown) => {
      if (err instanceof PayloadTooLargeError) {
        if (!res.headersSent)
          sendJson(res, 413, { errors: [{ message: err.message, extensions: { code: 'BAD_REQUEST' } }] });
        else res.destroy();
        return;
      }
      logger.error({ err, url: req.url }, 'request failed');
      if (!res.headersSent)
        sendJson(res, 500, {
          errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }],
        });
      else res.destroy();
    });
  };
  const server = createServer(
    { connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS },
    traceHttpServer(handler, { publicEdge: options.publicEdge ?? false }),
  );
  // The client closes an idle keep-alive connection first, never the server: a server that closes one at the
  // moment a client reuses it makes that request fail with ECONNRESET (seen from a gateway whose pool kept
  // sockets longer than Node's 5 s default). Longer than a load balancer's usual 60 s idle timeout.
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  return server;
}

const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export async function listen(server: Server, port: number, host: string): Promise<{ port: number; url: string }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return { port: address.port, url: `http://${urlHost}:${address.port}` };
}

/** Stops accepting, lets in-flight requests finish for `graceMs`, then cuts what is left. */
export async function closeServer(server: Server, graceMs = 5_000): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  timer.unref();
  await closed;
  clearTimeout(timer);
}

/** A running metrics listener: `url` is its `/metrics` endpoint. */
export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves `registry` at `/metrics` on its own port, for Prometheus inside the cluster: what a service counts
 * (auth failures by reason, consumer outcomes) is no business of whoever can reach the public port.
 */
export async function startMetricsServer(options: {
  readonly registry: Registry;
  readonly port: number;
  readonly host: string;
  readonly logger: Logger;
}): Promise<MetricsServer> {
  const { registry, logger } = options;
  const server = createServer({ connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS }, (req, res) => {
    if (req.method !== 'GET' || new URL(req.url ?? '/', 'http://localhost').pathname !== '/metrics')
      return sendJson(res, 404, { error: 'not found' });
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: unknown) => {
        logger.error({ err }, 'metrics collection failed');
        sendJson(res, 500, { error: 'metrics collection failed' });
      },
    );
  });
  const { url } = await listen(server, options.port, options.host);
  return { url: `${url}/metrics`, close: () => closeServer(server, 1_000) };
}
