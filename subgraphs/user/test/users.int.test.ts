// The user subgraph through the router, as a frontend uses it: real Postgres, Redis, broker, auth and router.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  createLogger,
  createPrismaClient,
  domainDatabaseUrl,
  IdentitySigner,
  resolveInternalSecret,
} from '@mall/platform';
import { data, errorCode } from '@mall/platform/testing';
import { postGraphQL, startTestStack, type TestStack } from '@mall/stack/testing';
import pg from 'pg';
import { ensureBootstrapAdmin } from '../bootstrap.ts';
import { PrismaClient } from '../data/generated/client.ts';
import { PasswordHasher } from '../data/passwords.ts';
import userSubgraph from '../index.ts';

/** The user fields the operations below select (each selects a subset). */
interface UserView {
  readonly id: string;
  readonly email: string;
  readonly name: string | null;
  readonly roles: readonly string[];
  readonly createdAt: string;
}

let stack: TestStack;
let db: pg.Client;
/** A token of a user who is ADMIN right now (the concurrency test hands the role around). */
let admin: { id: string; token: string };

const LOGIN = `mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken user { id email roles } } }`;
const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id email name roles } } }`;
const USER = `query User($id: ID!) { user(id: $id) { id email name roles } }`;
const USERS = `query Users($first: Int, $after: String) {
  users(first: $first, after: $after) { totalCount edges { cursor node { id email roles } } pageInfo { hasNextPage endCursor } }
}`;
const UPDATE_ME = `mutation UpdateMe($input: UpdateProfileInput!) { updateMe(input: $input) { id name } }`;
const UPDATE_USER = `mutation UpdateUser($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id name email } }`;
const DELETE_USER = `mutation DeleteUser($id: ID!) { deleteUser(id: $id) }`;
const ASSIGN = `mutation AssignRole($userId: ID!, $role: Role!) { assignRole(userId: $userId, role: $role) { id roles } }`;
const REVOKE = `mutation RevokeRole($userId: ID!, $role: Role!) { revokeRole(userId: $userId, role: $role) { id roles } }`;

async function login(email: string, password: string): Promise<string> {
  return data<{ login: { accessToken: string } }>(await stack.gql(LOGIN, { email, password })).login.accessToken;
}

/** A fresh customer, signed in. */
async function customer(name = 'Customer'): Promise<{ id: string; email: string; password: string; token: string }> {
  const email = `c-${randomBytes(5).toString('hex')}@example.com`;
  const password = 'password-123';
  const { register } = data<{ register: { accessToken: string; user: { id: string } } }>(
    await stack.gql(REGISTER, { input: { email, password, name } }),
  );
  return { id: register.user.id, email, password, token: register.accessToken };
}

async function outboxRows(type: string, key: string): Promise<{ payload: any }[]> {
  return (await db.query('SELECT payload FROM outbox WHERE type = $1 AND key = $2 ORDER BY created_at', [type, key]))
    .rows;
}

async function activeAdminCount(): Promise<number> {
  const { rows } = await db.query(
    `SELECT count(*)::int AS n FROM users WHERE status = 'ACTIVE' AND 'ADMIN' = ANY (roles)`,
  );
  return rows[0].n;
}

before(async () => {
  stack = await startTestStack({ subgraphs: ['user', 'auth'] });
  db = new pg.Client({ connectionString: domainDatabaseUrl(stack.config, 'user') });
  await db.connect();
  const { login: session } = data<{ login: { accessToken: string; user: { id: string } } }>(
    await stack.gql(LOGIN, { email: stack.admin.email, password: stack.admin.password }),
  );
  admin = { id: session.user.id, token: session.accessToken };
});

after(async () => {
  await db?.end();
  await stack?.close();
});

describe('reading accounts', () => {
  test('me needs a signed-in caller and returns the caller', async () => {
    assert.equal(errorCode(await stack.gql('query Me { me { id } }')), 'UNAUTHENTICATED');
    const ada = await customer('Ada');
    const me = data<UserView>(
      await stack.gql('query { me { id email name roles createdAt } }', {}, { token: ada.token }),
      'me',
    );
    assert.equal(me.id, ada.id);
    assert.equal(me.email, ada.email);
    assert.equal(me.name, 'Ada');
    assert.deepEqual(me.roles, ['CUSTOMER']);
    assert.ok(Math.abs(Date.parse(me.createdAt) - Date.now()) < 60_000);
  });

  test("a customer sees its own account; another user's is NOT_FOUND, exactly like a missing one", async () => {
    const [ada, bob] = [await customer(), await customer()];
    assert.equal(data<UserView>(await stack.gql(USER, { id: ada.id }, { token: ada.token }), 'user').id, ada.id);
    assert.equal(errorCode(await stack.gql(USER, { id: bob.id }, { token: ada.token })), 'NOT_FOUND');
    assert.equal(errorCode(await stack.gql(USER, { id: '1' }, { token: ada.token })), 'NOT_FOUND');
    assert.equal(errorCode(await stack.gql(USER, { id: 'not-an-id' }, { token: ada.token })), 'NOT_FOUND');
    assert.equal(errorCode(await stack.gql(USER, { id: bob.id })), 'UNAUTHENTICATED');
    assert.equal(
      data<UserView>(await stack.gql(USER, { id: bob.id }, { token: admin.token }), 'user').email,
      bob.email,
    );
  });

  test('the internal fields for auth are not part of the public API', async () => {
    const result = await stack.gql(
      'query { verifyCredentials(email: "a@example.com", password: "password-123") { id } }',
    );
    assert.equal(errorCode(result), 'GRAPHQL_VALIDATION_FAILED');
  });
});

describe('changing accounts', () => {
  test('updateMe changes the name, validates it and records user.updated', async () => {
    const ada = await customer('Ada');
    assert.deepEqual(
      data(await stack.gql(UPDATE_ME, { input: { name: '  Ada L.  ' } }, { token: ada.token }), 'updateMe'),
      { id: ada.id, name: 'Ada L.' },
    );
    const tooLong = await stack.gql(UPDATE_ME, { input: { name: 'x'.repeat(10_240) } }, { token: ada.token });
    assert.equal(errorCode(tooLong), 'BAD_USER_INPUT');
    assert.deepEqual(tooLong.body.errors?.[0]?.extensions?.['problems'], [
      { field: 'name', message: 'must be at most 100 characters' },
    ]);
    assert.equal(errorCode(await stack.gql(UPDATE_ME, { input: { name: 'x' } })), 'UNAUTHENTICATED');
    const events = await outboxRows('user.updated', ada.id);
    assert.equal(events.length, 1);
    assert.deepEqual(events[0]!.payload.data, { userId: ada.id, name: 'Ada L.' });
  });

  test('registration refuses bad input and a taken email in any case', async () => {
    for (const input of [
      { email: '', password: 'password-123' },
      { email: 'short@example.com', password: 'short' },
      { email: 'long@example.com', password: 'password-123', name: 'x'.repeat(10_240) },
    ]) {
      assert.equal(
        errorCode(await stack.gql(REGISTER, { input })),
        'BAD_USER_INPUT',
        JSON.stringify(input).slice(0, 80),
      );
    }
    const ada = await customer();
    assert.equal(
      errorCode(await stack.gql(REGISTER, { input: { email: ada.email.toUpperCase(), password: 'password-123' } })),
      'CONFLICT',
    );
  });

  test('only an ADMIN may update another account; email changes are normalized and must be free', async () => {
    const [ada, bob] = [await customer(), await customer()];
    assert.equal(
      errorCode(await stack.gql(UPDATE_USER, { id: bob.id, input: { name: 'Hacked' } }, { token: ada.token })),
      'FORBIDDEN',
    );
    assert.equal(
      errorCode(await stack.gql(UPDATE_USER, { id: ada.id, input: { name: 'Self' } }, { token: ada.token })),
      'FORBIDDEN',
    );

    const newEmail = `New-${randomBytes(4).toString('hex')}@Example.com`;
    const updated = data(
      await stack.gql(UPDATE_USER, { id: bob.id, input: { name: 'Bob', email: newEmail } }, { token: admin.token }),
      'updateUser',
    );
    assert.deepEqual(updated, { id: bob.id, name: 'Bob', email: newEmail.toLowerCase() });
    await login(newEmail, bob.password);

    assert.equal(
      errorCode(
        await stack.gql(UPDATE_USER, { id: bob.id, input: { email: ada.email.toUpperCase() } }, { token: admin.token }),
      ),
      'CONFLICT',
    );
    assert.equal(
      errorCode(await stack.gql(UPDATE_USER, { id: bob.id, input: { email: 'nope' } }, { token: admin.token })),
      'BAD_USER_INPUT',
    );
    assert.equal(
      errorCode(await stack.gql(UPDATE_USER, { id: '1', input: { name: 'Ghost' } }, { token: admin.token })),
      'NOT_FOUND',
    );
  });

  test('a customer cannot delete another user (NOT_FOUND) but can delete itself; the address is free again', async () => {
    const [ada, bob] = [await customer(), await customer()];
    assert.equal(errorCode(await stack.gql(DELETE_USER, { id: bob.id }, { token: ada.token })), 'NOT_FOUND');
    assert.equal(data<UserView>(await stack.gql(USER, { id: bob.id }, { token: admin.token }), 'user').id, bob.id);

    assert.equal(data(await stack.gql(DELETE_USER, { id: ada.id }, { token: ada.token }), 'deleteUser'), true);
    assert.equal(errorCode(await stack.gql(USER, { id: ada.id }, { token: admin.token })), 'NOT_FOUND');
    assert.equal(errorCode(await stack.gql(DELETE_USER, { id: ada.id }, { token: admin.token })), 'NOT_FOUND');

    const { rows } = await db.query('SELECT status, email, name FROM users WHERE id = $1', [ada.id]);
    assert.deepEqual(rows[0], { status: 'DELETED', email: `deleted-${ada.id}@deleted.invalid`, name: null });
    const [deleted] = await outboxRows('user.deleted', ada.id);
    assert.equal(deleted?.payload.data.userId, ada.id);

    const again = data<{ user: UserView }>(
      await stack.gql(REGISTER, { input: { email: ada.email, password: 'password-456' } }),
      'register',
    ).user;
    assert.notEqual(again.id, ada.id);
  });

  test('an ADMIN deletes any user; the state change and its user.deleted event commit together or not at all', async () => {
    const bob = await customer();
    // Make the outbox insert fail: if the delete were not in the event's transaction, bob would still be gone.
    await db.query(
      `ALTER TABLE outbox ADD CONSTRAINT test_refuse_user_deleted CHECK (type <> 'user.deleted') NOT VALID`,
    );
    try {
      assert.equal(
        errorCode(await stack.gql(DELETE_USER, { id: bob.id }, { token: admin.token })),
        'INTERNAL_SERVER_ERROR',
      );
    } finally {
      await db.query('ALTER TABLE outbox DROP CONSTRAINT test_refuse_user_deleted');
    }
    assert.equal((await db.query('SELECT status FROM users WHERE id = $1', [bob.id])).rows[0].status, 'ACTIVE');
    assert.equal((await outboxRows('user.deleted', bob.id)).length, 0);

    assert.equal(data(await stack.gql(DELETE_USER, { id: bob.id }, { token: admin.token }), 'deleteUser'), true);
    assert.equal((await db.query('SELECT status FROM users WHERE id = $1', [bob.id])).rows[0].status, 'DELETED');
    assert.equal((await outboxRows('user.deleted', bob.id)).length, 1);
  });
});

describe('listing users', () => {
  test('only an ADMIN may list users', async () => {
    const ada = await customer();
    assert.equal(errorCode(await stack.gql(USERS, {}, { token: ada.token })), 'FORBIDDEN');
    assert.equal(errorCode(await stack.gql(USERS, {})), 'UNAUTHENTICATED');
  });

  test('pages walk every active user once, in order, and agree with totalCount', async () => {
    for (let i = 0; i < 3; i++) await customer();
    const seen: string[] = [];
    let after: string | null = null;
    let totalCount = -1;
    for (let page = 0; page < 100; page++) {
      const {
        users,
      }: {
        users: {
          totalCount: number;
          edges: { cursor: string; node: { id: string } }[];
          pageInfo: { hasNextPage: boolean; endCursor: string | null };
        };
      } = data(await stack.gql(USERS, { first: 2, after }, { token: admin.token }));
      totalCount = users.totalCount;
      assert.ok(users.edges.length <= 2);
      seen.push(...users.edges.map((edge) => edge.node.id));
      assert.equal(users.pageInfo.endCursor, users.edges.at(-1)?.cursor ?? null);
      if (!users.pageInfo.hasNextPage) break;
      after = users.pageInfo.endCursor;
    }
    const { rows } = await db.query(`SELECT id::text FROM users WHERE status = 'ACTIVE' ORDER BY id`);
    assert.deepEqual(
      seen,
      rows.map((row) => row.id),
    );
    assert.equal(totalCount, rows.length);
    assert.ok(seen.includes(admin.id));
  });

  test('first above 100 or below 1 and foreign cursors are BAD_USER_INPUT', async () => {
    assert.equal(errorCode(await stack.gql(USERS, { first: 101 }, { token: admin.token })), 'BAD_USER_INPUT');
    assert.equal(errorCode(await stack.gql(USERS, { first: 0 }, { token: admin.token })), 'BAD_USER_INPUT');
    assert.equal(
      errorCode(await stack.gql(USERS, { after: 'bm90LWEtY3Vyc29y' }, { token: admin.token })),
      'BAD_USER_INPUT',
    );
    assert.equal(
      data<{ edges: unknown[] }>(await stack.gql(USERS, { first: 100 }, { token: admin.token }), 'users').edges.length >
        0,
      true,
    );
  });
});

describe('roles', () => {
  test('an ADMIN assigns and revokes roles, each change recorded as user.roles_changed', async () => {
    const ada = await customer();
    assert.equal(
      errorCode(await stack.gql(ASSIGN, { userId: ada.id, role: 'ADMIN' }, { token: ada.token })),
      'FORBIDDEN',
    );
    assert.deepEqual(
      data<UserView>(
        await stack.gql(ASSIGN, { userId: ada.id, role: 'MERCHANT' }, { token: admin.token }),
        'assignRole',
      ).roles,
      ['CUSTOMER', 'MERCHANT'],
    );
    assert.deepEqual(
      data<UserView>(
        await stack.gql(ASSIGN, { userId: ada.id, role: 'MERCHANT' }, { token: admin.token }),
        'assignRole',
      ).roles,
      ['CUSTOMER', 'MERCHANT'],
    );
    assert.deepEqual(
      data<UserView>(
        await stack.gql(REVOKE, { userId: ada.id, role: 'MERCHANT' }, { token: admin.token }),
        'revokeRole',
      ).roles,
      ['CUSTOMER'],
    );
    assert.equal(
      errorCode(await stack.gql(REVOKE, { userId: ada.id, role: 'CUSTOMER' }, { token: admin.token })),
      'BAD_USER_INPUT',
    );
    assert.equal(
      errorCode(await stack.gql(ASSIGN, { userId: '1', role: 'MERCHANT' }, { token: admin.token })),
      'NOT_FOUND',
    );

    const changes = (await outboxRows('user.roles_changed', ada.id)).map((row) => row.payload.data);
    assert.deepEqual(changes, [
      { userId: ada.id, roles: ['CUSTOMER', 'MERCHANT'], previousRoles: ['CUSTOMER'] },
      { userId: ada.id, roles: ['CUSTOMER'], previousRoles: ['CUSTOMER', 'MERCHANT'] },
    ]);
  });

  test('the last ADMIN can neither lose the role nor be deleted', async () => {
    assert.equal(await activeAdminCount(), 1);
    const revoke = await stack.gql(REVOKE, { userId: admin.id, role: 'ADMIN' }, { token: admin.token });
    assert.equal(errorCode(revoke), 'INVALID_STATE');
    assert.match(revoke.body.errors?.[0]?.message ?? '', /last administrator/);
    assert.equal(errorCode(await stack.gql(DELETE_USER, { id: admin.id }, { token: admin.token })), 'INVALID_STATE');
    assert.equal(await activeAdminCount(), 1);
  });

  test('two admins revoking each other at once leave exactly one admin, and the demoted token loses its power', async () => {
    for (let round = 0; round < 4; round++) {
      assert.equal(await activeAdminCount(), 1);
      const other = await customer();
      data(await stack.gql(ASSIGN, { userId: other.id, role: 'ADMIN' }, { token: admin.token }));
      const rival = { id: other.id, token: await login(other.email, other.password) };

      const [byAdmin, byRival] = await Promise.all([
        stack.gql(REVOKE, { userId: rival.id, role: 'ADMIN' }, { token: admin.token }),
        stack.gql(REVOKE, { userId: admin.id, role: 'ADMIN' }, { token: rival.token }),
      ]);
      const outcomes = [byAdmin, byRival].map((result) => errorCode(result) ?? 'OK');
      assert.equal(outcomes.filter((o) => o === 'OK').length, 1, `round ${round}: ${outcomes.join(', ')}`);
      // The loser either lost the race in the lock (INVALID_STATE) or was already demoted when checked (FORBIDDEN).
      assert.ok(
        outcomes.every((o) => ['OK', 'INVALID_STATE', 'FORBIDDEN'].includes(o)),
        outcomes.join(', '),
      );
      assert.equal(await activeAdminCount(), 1);

      const [winner, loser] = outcomes[0] === 'OK' ? [admin, rival] : [rival, admin];
      // The loser's access token still says ADMIN for minutes; the user subgraph goes by the current roles.
      assert.equal(errorCode(await stack.gql(USERS, {}, { token: loser.token })), 'FORBIDDEN');
      assert.equal(
        errorCode(await stack.gql(ASSIGN, { userId: loser.id, role: 'ADMIN' }, { token: loser.token })),
        'FORBIDDEN',
      );
      admin = winner;
    }
  });
});

describe('the subgraph port', () => {
  const CREATE = `mutation($input: CreateAccountInput!) { createAccount(input: $input) { id email roles } }`;
  const subgraphUrl = () => `${stack.subgraphUrls['user']}/graphql`;

  test('refuses requests without an identity token or with a forged one', async () => {
    const bare = await postGraphQL(subgraphUrl(), '{ me { id } }');
    assert.equal(bare.status, 401);
    assert.equal(errorCode(bare), 'UNAUTHENTICATED');

    const forger = new IdentitySigner(randomBytes(32).toString('hex'), 'router');
    const forged = await forger.sign({
      userId: admin.id,
      roles: ['CUSTOMER', 'ADMIN'],
      requestId: 'forged',
      audience: 'user',
    });
    const result = await postGraphQL(subgraphUrl(), USERS, {}, { headers: { 'mall-identity': forged } });
    assert.equal(result.status, 401);
    assert.equal(result.body.data, undefined);
  });

  test("internal fields answer only the auth service's identity", async () => {
    const secret = await resolveInternalSecret(stack.config);
    const sign = (issuer: string) =>
      new IdentitySigner(secret, issuer).sign({
        userId: null,
        roles: [],
        requestId: `direct-${issuer}`,
        audience: 'user',
      });
    const input = { email: `direct-${randomBytes(4).toString('hex')}@example.com`, password: 'password-123' };

    const asRouter = await postGraphQL(
      subgraphUrl(),
      CREATE,
      { input },
      { headers: { 'mall-identity': await sign('router') } },
    );
    assert.equal(errorCode(asRouter), 'FORBIDDEN');
    const asStranger = await postGraphQL(
      subgraphUrl(),
      CREATE,
      { input },
      { headers: { 'mall-identity': await sign('order') } },
    );
    assert.equal(asStranger.status, 401);

    const created = data<{ createAccount: { id: string; roles: string[] } }>(
      await postGraphQL(subgraphUrl(), CREATE, { input }, { headers: { 'mall-identity': await sign('auth') } }),
    ).createAccount;
    assert.deepEqual(created.roles, ['CUSTOMER']);
    assert.equal((await outboxRows('user.registered', created.id)).length, 1);

    const verify = `query($email: String!, $password: String!) { verifyCredentials(email: $email, password: $password) { id } }`;
    const check = async (email: string, password: string) =>
      data<{ verifyCredentials: { id: string } | null }>(
        await postGraphQL(
          subgraphUrl(),
          verify,
          { email, password },
          { headers: { 'mall-identity': await sign('auth') } },
        ),
      ).verifyCredentials;
    assert.equal((await check(input.email.toUpperCase(), input.password))?.id, created.id);
    assert.equal(await check(input.email, 'wrong-password'), null);
    assert.equal(await check('nobody@example.com', input.password), null);
  });
});

describe('bootstrap admin', () => {
  test('is created once however many instances start together, and a restart leaves it alone', async () => {
    const { config } = stack;
    const admin = { email: 'second-admin@mall.test', password: undefined };
    const logger = createLogger({ service: 'user-test', level: 'silent' });
    const prisma = createPrismaClient(PrismaClient, { url: domainDatabaseUrl(config, 'user'), poolSize: 4 });
    try {
      let next = BigInt(Date.now()) << 22n;
      const deps = { config, admin, prisma, passwords: new PasswordHasher(), nextId: () => ++next, logger };
      const results = await Promise.all([
        ensureBootstrapAdmin(deps),
        ensureBootstrapAdmin(deps),
        ensureBootstrapAdmin(deps),
      ]);
      assert.equal(results.filter((r) => r.created).length, 1);
      assert.equal(new Set(results.map((r) => r.password)).size, 1, 'all agree on the generated password');
      assert.ok(results.every((r) => r.generated && r.email === 'second-admin@mall.test'));

      const { rows } = await db.query(
        `SELECT id::text, roles::text[] AS roles FROM users WHERE email = 'second-admin@mall.test'`,
      );
      assert.equal(rows.length, 1);
      assert.deepEqual(rows[0].roles, ['CUSTOMER', 'ADMIN']);
      assert.equal((await outboxRows('user.registered', rows[0].id)).length, 1);
      await login('second-admin@mall.test', results[0]!.password);

      const again = await ensureBootstrapAdmin(deps);
      assert.deepEqual(again, { ...results[0], created: false });
    } finally {
      await prisma.$disconnect();
    }
  });

  test('a second instance of the subgraph starts on the same database without creating anything', async () => {
    const logger = createLogger({ service: 'user-2', level: 'silent' });
    const second = await userSubgraph.start(
      { config: stack.config, logger, internalSecret: await resolveInternalSecret(stack.config), redis: stack.redis },
      { port: 0 },
    );
    try {
      assert.equal(second.info?.created, false);
      assert.equal(second.info?.email, stack.admin.email);
      assert.equal((await fetch(`${second.url}/health/ready`)).status, 200);
    } finally {
      await second.stop();
    }
  });
});
