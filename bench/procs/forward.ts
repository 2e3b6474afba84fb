// What both floors (bench/procs/floor.ts, flash-floor.ts) do last: the body passed untouched to a subgraph with
// the caller's identity token, on an undici keep-alive pool, and its answer passed back as it came.
import type { ServerResponse } from 'node:http';
import { IDENTITY_HEADER } from '@mall/platform';
import { type Agent, request } from 'undici';

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
