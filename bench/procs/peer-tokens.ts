/**
 * The peers cannot sign identity tokens, so they forward pre-signed ones as a static header per subgraph
 * (audience = subgraph name). Tokens live 60 s, so the harness re-signs every 30 s and sends the new set over
 * IPC; the peer's header hook reads whichever set is current. The first set comes in the environment, so the
 * gateway never serves a request without one.
 */
import { type Message, serveParent } from '../lib.ts';

let tokens = JSON.parse(process.env['BENCH_IDENTITY_TOKENS'] ?? '{}') as Record<string, string>;

export function identityTokenFor(subgraph: string): string {
  const token = tokens[subgraph];
  if (!token) throw new Error(`no identity token for ${subgraph}`);
  return token;
}

export function serveTokenUpdates(): void {
  serveParent(async (message: Message) => {
    if (message.type !== 'tokens') return undefined;
    tokens = message['tokens'] as Record<string, string>;
    return { type: 'tokens-ok' };
  });
  process.on('SIGTERM', () => process.exit(0));
}
