/**
 * A harness child profiling itself on request (`profile:start`, then `profile:stop` with the file to write),
 * through the inspector: the stack and the load generator are started before any scenario, so `--cpu-prof`
 * (whole life, written at exit) would mix start-up, seeding and every other scenario into the profile.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { Message } from '../lib.ts';

export function selfProfiler(name: string): (message: Message) => Promise<Message | undefined> {
  let session: Session | undefined;
  return async (message) => {
    if (message.type === 'profile:start') {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      return { type: 'profile:start', name };
    }
    if (message.type === 'profile:stop') {
      if (!session) throw new Error(`${name}: profile:stop without profile:start`);
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      session = undefined;
      const file = String(message['file']);
      writeFileSync(file, JSON.stringify(profile));
      return { type: 'profile:stop', name, file };
    }
    return undefined;
  };
}
