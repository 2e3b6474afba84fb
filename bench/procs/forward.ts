// What both floors (bench/procs/floor.ts, flash-floor.ts) share: the request's body read whole, and the body passed
// untouched to a subgraph with the caller's identity token, on an undici keep-alive pool, its answer passed back
// as it came.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { IDENTITY_HEADER } from '@mall/platform';
import { Agent, request } from 'undici';

/** The floors' pool to the subgraphs behind them. */
export const floorAgent = () => new Agent({ keepAliveTimeout: 10_000, connections: 128, pipelining: 1 });

export function bodyOf(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function forward(res: ServerResponse, url: string, identity: string, body: Buffer, agent: Agent) {
  const answer = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [IDENTITY_HEADER]: identity },
    body,
    dispatcher: agent,
  });
  const text = await answer.body.text();
  res.writeHead(answer.statusCode, { 'content-type': 'application/json' }).end(text);
}
