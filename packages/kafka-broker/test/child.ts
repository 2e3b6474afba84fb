import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface Child {
  proc: ChildProcess;
  messages: unknown[];
  kill(): Promise<void>;
}

export function spawnFixture(name: string, args: string[], t: { after(fn: () => Promise<void>): void }): Child {
  const proc = fork(path.join(here, 'fixtures', name), args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const messages: unknown[] = [];
  proc.on('message', (m) => messages.push(m));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const kill = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  };
  t.after(kill);
  return { proc, messages, kill };
}

export async function startBrokerChild(
  dataDir: string,
  port: number,
  t: { after(fn: () => Promise<void>): void },
  visibility?: 'written' | 'durable',
): Promise<Child & { port: number; brokers: string }> {
  const c = spawnFixture('broker-child.ts', [dataDir, String(port), ...(visibility ? [visibility] : [])], t);
  const info = await new Promise<{ port: number; brokers: string }>((resolve, reject) => {
    c.proc.once('message', (m) => resolve(m as { port: number; brokers: string }));
    c.proc.once('exit', (code) => reject(new Error(`broker child exited with ${code}`)));
  });
  return { ...c, ...info };
}
