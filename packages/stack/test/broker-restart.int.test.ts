// The services keep working across a SIGKILL restart of a standalone broker (`npm run broker`, issue #19):
// auth's user.events consumer still revokes a deleted user's sessions, the user outbox relay still publishes,
// the restarted broker still knows the group's members, and an auth service process stopped after the restart
// leaves its group cleanly and exits 0.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createKafka } from '@mall/events';
import { waitFor } from '@mall/events/testing';
import { createLogger, domainDatabaseUrl } from '@mall/platform';
import { freePort } from '@mall/platform/testing';
import pg from 'pg';
import { type GraphQLResult, startTestStack, type TestStack } from '../src/testing.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BROKER_MAIN = join(ROOT, 'packages/kafka-broker/src/main.ts');
const AUTH_MAIN = join(ROOT, 'subgraphs/auth/index.ts');
const PASSWORD = 'correct horse battery';

interface Proc {
  proc: ChildProcess;
  exited: Promise<number | null>;
  /** Its warnings and errors (pino level >= 40), for failure messages. */
  problems: string[];
}

function run(file: string, env: Record<string, string>, readyLine?: RegExp): Promise<Proc> {
  // kafkajs 2.2.4 sets negative timeouts; npm's entry scripts silence the warning the same way.
  const proc = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', file], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const problems: string[] = [];
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: proc.stdout! });
    let ready = !readyLine;
    if (ready) resolve({ proc, exited, problems });
    lines.on('line', (line) => {
      if (/"level":(4|5|6)0/.test(line)) problems.push(line.slice(0, 2000));
      if (!ready && readyLine!.test(line)) {
        ready = true;
        resolve({ proc, exited, problems });
      }
    });
    void exited.then((code) => reject(new Error(`${file} exited with ${code} before it was ready`)));
    const timer = setTimeout(() => {
      if (ready) return;
      proc.kill('SIGKILL');
      reject(new Error(`${file} not ready within 60 s`));
    }, 60_000);
    timer.unref();
  });
}

async function kill(p: Proc | undefined): Promise<void> {
  if (!p) return;
  if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
  await p.exited;
}

function dataOf<T>(result: GraphQLResult<Record<string, T>>, field: string): T {
  assert.equal(result.body.errors, undefined, JSON.stringify(result.body.errors));
  return result.body.data![field]!;
}

let brokerDir: string;
let brokerPort: number;
let broker: Proc | undefined;
let stack: TestStack | undefined;
let auth2: Proc | undefined;

const startBroker = async () => {
  broker = await run(
    BROKER_MAIN,
    {
      KAFKA_BROKER_PORT: String(brokerPort),
      KAFKA_BROKER_METRICS_PORT: '0',
      MALL_DATA_DIR: brokerDir,
      LOG_LEVEL: 'info',
    },
    /"broker ready"/,
  );
};

before(async () => {
  brokerDir = await mkdtemp(join(tmpdir(), 'mall-standalone-broker-'));
  brokerPort = await freePort();
  await startBroker();
  stack = await startTestStack({
    subgraphs: ['user', 'auth'],
    env: { KAFKA_BROKERS: `127.0.0.1:${brokerPort}` },
  });
});

after(async () => {
  await kill(auth2);
  // The stack first, while its broker is still up, so its consumer and relay stop cleanly.
  await stack?.close();
  await kill(broker);
  await rm(brokerDir, { recursive: true, force: true });
});

test('after a SIGKILL restart user.deleted still revokes sessions and a stopped service exits 0', async () => {
  const s = stack!;
  let n = 0;
  const register = async () => {
    const email = `restart-${process.pid}-${Date.now().toString(36)}-${n++}@example.com`;
    const r = await s.gql<Record<string, { accessToken: string; user: { id: string } }>>(
      `mutation R($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`,
      { input: { email, password: PASSWORD, name: 'R' } },
    );
    return dataOf(r, 'register');
  };
  const deleteUser = async (u: { accessToken: string; user: { id: string } }) =>
    assert.equal(
      dataOf(
        await s.gql<Record<string, boolean>>(
          `mutation D($id: ID!) { deleteUser(id: $id) }`,
          { id: u.user.id },
          {
            token: u.accessToken,
          },
        ),
        'deleteUser',
      ),
      true,
    );
  const authDb = new pg.Client({ connectionString: domainDatabaseUrl(s.config, 'auth') });
  const userDb = new pg.Client({ connectionString: domainDatabaseUrl(s.config, 'user') });
  await authDb.connect();
  await userDb.connect();
  const kafka = createKafka({
    brokers: [`127.0.0.1:${brokerPort}`],
    clientId: 'restart-test',
    logger: createLogger({ service: 'restart-test', level: 'silent' }),
  });
  const admin = kafka.admin();
  try {
    const revoked = (userId: string) => async () => {
      const { rows } = await authDb.query<{ live: string }>(
        'SELECT count(*) FILTER (WHERE revoked_at IS NULL) AS live FROM refresh_token_families WHERE user_id = $1',
        [userId],
      );
      return rows[0]!.live === '0';
    };
    // Before the restart: the pipeline works and auth's group has settled (its metadata is on disk).
    const first = await register();
    await deleteUser(first);
    await waitFor(revoked(first.user.id), { timeoutMs: 30_000, what: 'sessions revoked before the restart' });
    const second = await register();

    // A second auth instance in its own process, as a deployment runs it, joins the same group.
    const authPort = await freePort();
    auth2 = await run(
      AUTH_MAIN,
      {
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        AUTH_PORT: String(authPort),
        USER_PORT: String(s.config.subgraphs.user.port),
        DATABASE_URL: s.config.database.serverUrl,
        MALL_DB_PREFIX: s.config.database.prefix,
        REDIS_URL: s.config.redis.url,
        MALL_REDIS_PREFIX: s.config.redis.prefix,
        MALL_DATA_DIR: s.config.dataDir,
        KAFKA_BROKERS: `127.0.0.1:${brokerPort}`,
        METRICS_EPHEMERAL_PORTS: 'true',
      },
      /subgraph auth ready/,
    );
    await admin.connect();
    const members = await waitFor(
      async () => {
        const g = (await admin.describeGroups(['auth'])).groups[0]!;
        return g.state === 'Stable' && g.members.length === 2 ? g.members.map((m) => m.memberId).sort() : undefined;
      },
      { timeoutMs: 30_000, what: 'both auth instances in the group' },
    );
    await admin.disconnect();

    await kill(broker);
    await startBroker();
    // The restarted broker knows both members before either has said a word (loaded from its data dir).
    await admin.connect();
    // (A consumer that crashed in the outage may already be joining anew next to them.)
    const loaded = new Set((await admin.describeGroups(['auth'])).groups[0]!.members.map((m) => m.memberId));
    assert.ok(
      members.every((id) => loaded.has(id)),
      `loaded ${[...loaded]} lacks some of ${members}`,
    );
    await admin.disconnect();

    // The second instance stops right after the restart, as a deploy that restarts everything stops it: its
    // consumer's leave is answered or, while its rejoin is parked behind the loaded members, bounded by the
    // consumer's stop timeout; either way the process exits 0 within its shutdown budget.
    auth2.proc.kill('SIGTERM');
    const proc = auth2.proc;
    await waitFor(() => proc.exitCode !== null || proc.signalCode !== null, {
      timeoutMs: 20_000,
      what: 'the auth process to exit after SIGTERM',
    });
    assert.equal(
      proc.exitCode,
      0,
      `the stopped auth service exits 0 (an unhandled rejection makes it exit 1):\n${auth2.problems.join('\n')}`,
    );

    // After the restart: the user outbox relay publishes, the auth consumers revoke. kafkajs consumers whose
    // broker vanishes crash (KafkaJSNoBrokerAvailableError) and rejoin as new members; their old, loaded
    // members hold that rebalance until the services' 30 s session timeout drops them, exactly as on Kafka,
    // hence the generous bound.
    await deleteUser(second);
    // Up to two session timeouts: the instance stopped above may have left without its LeaveGroup answered (its
    // stop is bounded), so its loaded member, too, holds the rebalance until the session timeout drops it.
    await waitFor(revoked(second.user.id), { timeoutMs: 90_000, what: 'sessions revoked after the restart' });
    const { rows } = await userDb.query<{ pending: string }>(
      'SELECT count(*) FILTER (WHERE published_at IS NULL) AS pending FROM outbox',
    );
    assert.equal(rows[0]!.pending, '0', 'the outbox is fully published');
  } finally {
    await admin.disconnect().catch(() => {});
    await authDb.end();
    await userDb.end();
  }
});
