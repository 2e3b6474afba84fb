// Idempotency keys on a real Postgres through a generated Prisma client, as a domain uses them.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { diffDatabaseToSchema } from '../../../scripts/lib/prisma-env.ts';
import { generateAll } from '../../../scripts/prisma-generate.ts';
import { createPrismaClient, withTransaction } from '../src/db/index.ts';
import { AppError } from '../src/errors.ts';
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  type IdempotencyCompanion,
  type IdempotencyRequest,
  purgeExpiredIdempotencyKeys,
  releaseIdempotencyKey,
  withIdempotencyKey,
} from '../src/idempotency.ts';
import { SnowflakeGenerator } from '../src/ids/index.ts';
import { createTestDatabase, type TestDatabase } from '../src/testing/index.ts';
import { fixtureSchemaDir } from './fixtures/db.ts';

await generateAll({ schemaDirs: [fixtureSchemaDir('keys')] });
const { PrismaClient } = await import('./fixtures/generated/keys/client.ts');
type Prisma = InstanceType<typeof PrismaClient>;

const ids = new SnowflakeGenerator({ workerId: 2 });
const silent = { info: () => {}, warn: () => {}, error: () => {} };
let database: TestDatabase;
let prisma: Prisma;

before(async () => {
  const ddl = await readFile(new URL('../prisma/idempotency.sql', import.meta.url), 'utf8');
  database = await createTestDatabase('idempotency', {
    sql: [ddl, 'CREATE TABLE purchases (id bigint PRIMARY KEY, buyer text NOT NULL, amount int NOT NULL)'],
  });
  // 20 connections: the concurrency test needs many transactions waiting on one key at once.
  prisma = createPrismaClient(PrismaClient, {
    url: database.url,
    poolSize: 20,
    logger: silent,
    applicationName: 'idem',
  });
});

after(async () => {
  await prisma?.$disconnect();
  await database?.drop();
});

const request = <I>(key: string, input: I, scope = 'user:1'): IdempotencyRequest & { input: I } => ({
  scope,
  operation: 'purchase',
  key,
  input,
});

/** A purchase made at most once per key: the effect and the key commit together. */
function purchase(req: IdempotencyRequest & { readonly input: { readonly amount: number } }) {
  return withTransaction(prisma, (tx) =>
    withIdempotencyKey(tx, req, async () => {
      const id = ids.next();
      await tx.purchase.create({ data: { id, buyer: req.scope, amount: req.input.amount } });
      return { purchaseId: String(id) };
    }),
  );
}

const code = (error: unknown) => (error instanceof AppError ? error.code : String(error));

test('idempotency.sql builds exactly the table the linked snippet declares', async () => {
  assert.equal(await diffDatabaseToSchema(database.url, fixtureSchemaDir('keys')), '');
});

describe('withIdempotencyKey', () => {
  test('the same key and input return the first result; another input is CONFLICT; another caller is separate', async () => {
    const first = await purchase(request('k1', { amount: 5, note: { a: 1, b: 2 } }));
    assert.equal(first.replayed, false);
    // Key order inside the input does not make it a different input.
    const again = await purchase(request('k1', { note: { b: 2, a: 1 }, amount: 5 }));
    assert.deepEqual(again, { result: first.result, replayed: true });
    await assert.rejects(purchase(request('k1', { amount: 6 })), (e) => code(e) === 'CONFLICT');
    const other = await purchase(request('k1', { amount: 6 }, 'user:2'));
    assert.notEqual(other.result.purchaseId, first.result.purchaseId);
    assert.equal(await prisma.purchase.count({ where: { buyer: 'user:1' } }), 1);
  });

  test('50 concurrent requests with one key make one purchase and all answer its result', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, () => purchase(request('burst', { amount: 7 }, 'user:burst'))),
    );
    assert.equal(await prisma.purchase.count({ where: { buyer: 'user:burst' } }), 1);
    assert.equal(new Set(results.map((r) => r.result.purchaseId)).size, 1);
    assert.equal(results.filter((r) => !r.replayed).length, 1);
  });

  test('a rolled-back effect leaves no key, so the retry runs', async () => {
    const req = request('rollback', { amount: 1 }, 'user:rb');
    await assert.rejects(
      withTransaction(prisma, (tx) =>
        withIdempotencyKey(tx, req, async () => {
          throw new Error('payment provider down');
        }),
      ),
      /provider down/,
    );
    assert.equal((await purchase(req)).replayed, false);
  });

  test('a key is refused when empty or longer than 200 characters', async () => {
    for (const key of ['', 'k'.repeat(201)])
      await assert.rejects(purchase(request(key, { amount: 1 })), (e) => code(e) === 'BAD_USER_INPUT');
  });

  test('an expired key is claimed afresh and purged', async () => {
    const req = { ...request('old', { amount: 1 }, 'user:old'), ttlSeconds: 0 };
    await purchase(req);
    assert.equal((await purchase(req)).replayed, false, 'an expired key no longer replays');
    assert.ok((await purchaseCountOf('user:old')) === 2);
    assert.ok((await purgeExpiredIdempotencyKeys(prisma)) >= 1);
    assert.equal(await prisma.idempotencyKey.count({ where: { scope: 'user:old' } }), 0);
  });
});

const purchaseCountOf = (buyer: string) => prisma.purchase.count({ where: { buyer } });

describe('two-phase claims (a saga between)', () => {
  test('pending to others until completed; released claims run again; abandoned ones are reclaimed', async () => {
    const req = request('saga', { amount: 3 }, 'user:saga');
    assert.deepEqual(await claimIdempotencyKey(prisma, req), { state: 'claimed' });
    assert.deepEqual(await claimIdempotencyKey(prisma, req), { state: 'pending' });
    await assert.rejects(claimIdempotencyKey(prisma, { ...req, input: { amount: 4 } }), (e) => code(e) === 'CONFLICT');
    await completeIdempotencyKey(prisma, req, { orderId: '42' });
    assert.deepEqual(await claimIdempotencyKey(prisma, req), { state: 'completed', result: { orderId: '42' } });

    const failed = request('saga-failed', { amount: 3 }, 'user:saga');
    await claimIdempotencyKey(prisma, failed);
    await releaseIdempotencyKey(prisma, failed);
    assert.deepEqual(await claimIdempotencyKey(prisma, failed), { state: 'claimed' });

    const abandoned = { ...request('saga-crashed', { amount: 3 }, 'user:saga'), pendingTimeoutSeconds: 0 };
    await claimIdempotencyKey(prisma, abandoned);
    assert.deepEqual(await claimIdempotencyKey(prisma, abandoned), { state: 'claimed' });
  });
});

describe('companion statements (the caller’s row rides in the key’s statement)', () => {
  /** Records a purchase row only when the key's statement changed the key (`FROM row`). */
  const recordPurchase =
    (id: bigint, buyer: string): IdempotencyCompanion =>
    (row, bind) =>
      `INSERT INTO purchases (id, buyer, amount) SELECT ${bind(id)}::bigint, ${bind(buyer)}, 1 FROM ${row}`;
  const removePurchase =
    (id: bigint): IdempotencyCompanion =>
    (_row, bind) =>
      `DELETE FROM purchases WHERE id = ${bind(id)}::bigint`;

  test('written with the claim, not by a claim that finds the key taken, removed with the completion', async () => {
    const req = request('companion', { amount: 1 }, 'user:companion');
    const id = ids.next();
    assert.deepEqual(await claimIdempotencyKey(prisma, req, { companion: recordPurchase(id, 'user:companion') }), {
      state: 'claimed',
    });
    assert.equal(await purchaseCountOf('user:companion'), 1);
    // Pending to a second request: its companion (another row) must not be written.
    assert.deepEqual(
      await claimIdempotencyKey(prisma, req, { companion: recordPurchase(ids.next(), 'user:companion') }),
      { state: 'pending' },
    );
    assert.equal(await purchaseCountOf('user:companion'), 1);
    await completeIdempotencyKey(prisma, req, { done: true }, { companion: removePurchase(id) });
    assert.equal(await purchaseCountOf('user:companion'), 0);
    assert.deepEqual(await claimIdempotencyKey(prisma, req), { state: 'completed', result: { done: true } });
  });

  test('a companion that fails undoes the claim with it; a release takes its companion along', async () => {
    const taken = ids.next();
    await prisma.purchase.create({ data: { id: taken, buyer: 'user:companion-fail', amount: 1 } });
    const req = request('companion-fail', { amount: 1 }, 'user:companion-fail');
    // The companion's insert hits the existing primary key: the whole statement, claim included, fails.
    await assert.rejects(claimIdempotencyKey(prisma, req, { companion: recordPurchase(taken, 'user:companion-fail') }));
    assert.equal(await prisma.idempotencyKey.count({ where: { scope: 'user:companion-fail' } }), 0);

    const id = ids.next();
    await claimIdempotencyKey(prisma, req, { companion: recordPurchase(id, 'user:companion-fail') });
    assert.equal(await purchaseCountOf('user:companion-fail'), 2);
    await releaseIdempotencyKey(prisma, req, { companion: removePurchase(id) });
    assert.equal(await purchaseCountOf('user:companion-fail'), 1);
    assert.deepEqual(await claimIdempotencyKey(prisma, req), { state: 'claimed' }, 'released: the key runs again');
  });
});
