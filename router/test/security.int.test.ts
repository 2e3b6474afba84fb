// The router as an attacker meets it: every hostile request gets its own answer (status and extensions.code),
// never an HTTP 500, while a normal client keeps being served. A development router (the stack's), a
// production one (introspection and suggestions off) and a trusted-documents one, over one stack.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  createLogger,
  IDENTITY_HEADER,
  IdentitySigner,
  loadConfig,
  type RunningService,
  resolveInternalSecret,
} from '@mall/platform';
import { data } from '@mall/platform/testing';
import { type GraphQLResult, postGraphQL, startTestStack, type TestStack } from '@mall/stack/testing';
import { customer } from '../../subgraphs/order/test/helpers.ts';
import { startRouter } from '../src/index.ts';
import { documentId, loadTrustedDocuments } from '../src/persisted-queries.ts';
import { generateSigningKey, signAccessToken, startJwksServer } from './helpers.ts';

const ME = 'query Me { me { id email } }';
const logger = createLogger({ service: 'router-security-test', level: 'silent' });
/** Attack traffic and the honest client come from different addresses (the router trusts loopback proxies). */
const ATTACKER = { 'x-forwarded-for': '203.0.113.66' };
const HONEST = { 'x-forwarded-for': '198.51.100.7' };

let stack: TestStack;
let production: RunningService;
let trusted: RunningService;
let victim: { id: string; token: string };
const routers: RunningService[] = [];

const codeOf = (result: GraphQLResult<unknown>) => result.body.errors?.[0]?.extensions?.code;
const post = (url: string, query: string, variables: Record<string, unknown> = {}, headers = ATTACKER) =>
  postGraphQL(url, query, variables, { headers });

before(async () => {
  stack = await startTestStack({ subgraphs: ['user', 'auth', 'order'] });
  const internalSecret = await resolveInternalSecret(stack.config);
  const variant = async (env: Record<string, string>) => {
    const config = loadConfig({ ...stack.config.env, MALL_INTERNAL_SECRET: internalSecret, ...env });
    const router = await startRouter({ config, logger, internalSecret, redis: stack.redis }, { port: 0 });
    routers.push(router);
    return router;
  };
  production = await variant({ NODE_ENV: 'production' });
  trusted = await variant({ TRUSTED_DOCUMENTS: 'on' });
  victim = await customer(stack);
});

after(async () => {
  for (const router of routers) await router.stop();
  await stack?.close();
});

describe('query shape', () => {
  test('depth and alias bombs, directive floods and a 1 MB query are refused before any subgraph sees them', async () => {
    // No path of the schema nests 13 deep, so the bomb names fields that do not exist: refused by graphql's
    // own rules first (Apollo runs ours once those pass; the depth rule's own answer is in router.int.test).
    const depthBomb = await post(stack.url, `{ me { ${'friends { '.repeat(40)}id${' }'.repeat(40)} } }`);
    assert.equal(depthBomb.status, 400);
    assert.equal(codeOf(depthBomb), 'GRAPHQL_VALIDATION_FAILED');

    const aliases = `{ ${Array.from({ length: 500 }, (_, i) => `a${i}: me { id }`).join(' ')} }`;
    const aliasBomb = await post(stack.url, aliases);
    assert.equal(aliasBomb.status, 400);
    assert.equal(codeOf(aliasBomb), 'GRAPHQL_VALIDATION_FAILED');

    const directives = `{ me { id ${'@skip(if: false) '.repeat(60)}} }`;
    const directiveFlood = await post(stack.url, directives);
    assert.equal(directiveFlood.status, 400);
    assert.equal(codeOf(directiveFlood), 'GRAPHQL_VALIDATION_FAILED');

    const tokens = await post(stack.url, `{ me { ${'id '.repeat(6_000)}} }`);
    assert.equal(tokens.status, 400);
    assert.equal(codeOf(tokens), 'GRAPHQL_PARSE_FAILED');

    const huge = await post(stack.url, `{ me { id } } # ${'x'.repeat(1024 * 1024)}`);
    assert.equal(huge.status, 413);
    assert.equal(codeOf(huge), 'BAD_REQUEST');
  });

  test('batched arrays are refused', async () => {
    const response = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...ATTACKER },
      body: JSON.stringify([{ query: ME }, { query: ME }]),
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
    assert.equal(body.errors?.[0]?.extensions?.code, 'BAD_REQUEST');
  });

  test('in production: no introspection, and no field suggestions to probe the schema with', async () => {
    const introspection = await post(`${production.url}/graphql`, '{ __schema { types { name } } }');
    assert.equal(introspection.status, 400);
    assert.equal(codeOf(introspection), 'GRAPHQL_VALIDATION_FAILED');
    const probe = await post(`${production.url}/graphql`, '{ me { emai } }');
    assert.equal(codeOf(probe), 'GRAPHQL_VALIDATION_FAILED');
    assert.doesNotMatch(probe.body.errors?.[0]?.message ?? '', /Did you mean/);
    // The development router does suggest: the production answer is a setting, not an accident.
    assert.match((await post(stack.url, '{ me { emai } }')).body.errors?.[0]?.message ?? '', /Did you mean/);
  });
});

describe('identity', () => {
  test('a forged identity header is dropped: the caller is anonymous', async () => {
    const forged = await new IdentitySigner('attacker-guess-0123456789abcdefghijkl', 'router').sign({
      userId: victim.id,
      roles: ['ADMIN'],
      requestId: 'forged',
      audience: 'user',
      session: null,
      clientIp: null,
    });
    const result = await postGraphQL<{ me: unknown }>(
      stack.url,
      ME,
      {},
      { headers: { ...ATTACKER, [IDENTITY_HEADER]: forged } },
    );
    assert.equal(codeOf(result), 'UNAUTHENTICATED');
    assert.equal(result.body.data?.me ?? null, null);
  });

  test('alg: none, a forged signature and an expired token are 401 UNAUTHENTICATED', async () => {
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: victim.id, sid: 's', jti: 'j', iat: now, exp: now + 600, roles: ['ADMIN'] };
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, iss: 'mall-auth', aud: 'mall-api' })}.`;
    const key = await generateSigningKey('ES256');
    const foreign = await signAccessToken(key, { sub: victim.id, roles: ['ADMIN'] });
    for (const token of [none, foreign]) {
      const result = await postGraphQL(stack.url, ME, {}, { token, headers: ATTACKER });
      assert.equal(result.status, 401);
      assert.equal(codeOf(result), 'UNAUTHENTICATED');
    }
    // Expired: a router whose key set is the test's own, so the token is genuine but old.
    const jwks = await startJwksServer([key.publicJwk]);
    try {
      const internalSecret = await resolveInternalSecret(stack.config);
      const router = await startRouter(
        { config: stack.config, logger, internalSecret, redis: stack.redis },
        { port: 0, subgraphUrls: { auth: `${jwks.url}/graphql` } },
      );
      routers.push(router);
      const expired = await signAccessToken(key, { sub: victim.id, iat: now - 1_000, exp: now - 100 });
      const result = await postGraphQL(`${router.url}/graphql`, ME, {}, { token: expired, headers: ATTACKER });
      assert.equal(result.status, 401);
      assert.equal(codeOf(result), 'UNAUTHENTICATED');
      assert.equal(result.body.errors?.[0]?.message, 'Access token expired');
    } finally {
      await jwks.stop();
    }
  });
});

describe('shared subgraph fetches', () => {
  test('identical queries of many callers at once: each caller gets only its own data, and logging out still applies at once', async () => {
    const callers = [victim, await customer(stack), await customer(stack)];
    // Interleaved and concurrent, so identical fetches are in flight together: the router may share a fetch
    // between requests of one caller, never between callers.
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => {
        const who = callers[i % callers.length]!;
        return postGraphQL<{ me: { id: string } }>(stack.url, ME, {}, { token: who.token, headers: HONEST }).then(
          (result) => ({ who, result }),
        );
      }),
    );
    for (const { who, result } of results) assert.equal(data<{ me: { id: string } }>(result).me.id, who.id);

    const leaving = callers[2]!;
    const logout = await postGraphQL(stack.url, 'mutation { logout }', {}, { token: leaving.token, headers: HONEST });
    assert.equal(logout.body.errors, undefined);
    const after = await postGraphQL(stack.url, ME, {}, { token: leaving.token, headers: HONEST });
    assert.equal(after.status, 401);
    assert.equal(codeOf(after), 'UNAUTHENTICATED');
  });
});

describe('trusted documents', () => {
  test('only listed operations run, by id or by their text; anything else is PERSISTED_QUERY_NOT_FOUND', async () => {
    const url = `${trusted.url}/graphql`;
    const register = [...loadTrustedDocuments().values()].find((body) => body.startsWith('mutation Register'));
    assert.ok(register);
    const input = () => ({ email: `t-${randomBytes(5).toString('hex')}@example.com`, password: 'password-123' });
    const empty = await postGraphQL(url, '', {});
    assert.equal(codeOf(empty), 'BAD_REQUEST', 'nothing sent: not a document');
    const byId = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        variables: { input: input() },
        extensions: { persistedQuery: { version: 1, sha256Hash: documentId(register) } },
      }),
    });
    const byIdBody = (await byId.json()) as { data?: { register?: { user: { id: string } } }; errors?: unknown[] };
    assert.equal(byIdBody.errors, undefined, JSON.stringify(byIdBody.errors));
    assert.ok(byIdBody.data?.register?.user.id);
    const byText = await postGraphQL<{ register: { user: { id: string } } }>(url, register, { input: input() });
    assert.ok(data<{ register: { user: { id: string } } }>(byText).register.user.id);

    const me = [...loadTrustedDocuments().values()].find((body) => body.startsWith('query Me')) ?? '';
    for (const unlisted of [ME, '{ __typename }', `${me} `]) {
      const result = await postGraphQL(url, unlisted, {}, { token: victim.token });
      assert.equal(codeOf(result), 'PERSISTED_QUERY_NOT_FOUND', unlisted);
    }
    const unknownId = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: 'f'.repeat(64) } } }),
    });
    const unknownBody = (await unknownId.json()) as { errors?: { extensions?: { code?: string } }[] };
    assert.equal(unknownBody.errors?.[0]?.extensions?.code, 'PERSISTED_QUERY_NOT_FOUND');
  });
});

/** A small seeded generator, so a failure names a request that can be replayed. */
function seeded(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
  return {
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
  };
}

const GRAPHQL_CHARS = '{}()[]:!$@.,"\\ \n\tabcmeidorsuqyn0123456789#=|&';

function malformed(rng: ReturnType<typeof seeded>): {
  method: string;
  body?: string;
  contentType?: string;
  path?: string;
} {
  const noise = (n: number) => Array.from({ length: n }, () => rng.pick([...GRAPHQL_CHARS])).join('');
  const json = (value: unknown) => ({ method: 'POST', body: JSON.stringify(value), contentType: 'application/json' });
  switch (rng.int(12)) {
    case 0:
      return {
        method: 'POST',
        body: randomBytes(rng.int(200) + 1).toString('latin1'),
        contentType: 'application/json',
      };
    case 1:
      return {
        method: 'POST',
        body: JSON.stringify({ query: ME }).slice(0, rng.int(20)),
        contentType: 'application/json',
      };
    case 2:
      return json({ query: rng.pick([42, [], {}, null, true]) });
    case 3:
      return json({ query: ME, variables: rng.pick(['x', 7, [1], true]) });
    case 4:
      return json({ query: noise(rng.int(300) + 1) });
    case 5:
      return json({ query: ME, operationName: noise(8) });
    case 6:
      return json({ query: `${'{'.repeat(rng.int(5_000) + 1)}` });
    case 7:
      return {
        method: 'POST',
        body: ME,
        contentType: rng.pick(['text/plain', 'application/xml', 'multipart/form-data']),
      };
    case 8:
      return { method: 'GET', path: `/graphql?query=${encodeURIComponent(noise(50))}&variables=${noise(5)}` };
    case 9:
      return {
        method: rng.pick(['PUT', 'DELETE', 'PATCH']),
        body: JSON.stringify({ query: ME }),
        contentType: 'application/json',
      };
    case 10:
      return json({ extensions: { persistedQuery: rng.pick([{ version: 2 }, { version: 1, sha256Hash: 5 }, 'x']) } });
    default:
      return json({
        query: 'query Q($id: ID!) { order(id: $id) { id } }',
        variables: { id: rng.pick([null, {}, [1], 2 ** 64]) },
      });
  }
}

describe('a flood of malformed requests', () => {
  test('1,000 malformed requests: each a 4xx with a code (or a GraphQL error), 0 HTTP 500, and a normal client is served throughout', async () => {
    const base = stack.url.replace(/\/graphql$/, '');
    const rng = seeded(2026);
    let attacking = true;
    const served: number[] = [];
    const honest = (async () => {
      while (attacking) {
        const result = await postGraphQL(stack.url, ME, {}, { token: victim.token, headers: HONEST });
        served.push(result.status);
        assert.equal(data<{ me: { id: string } }>(result).me.id, victim.id);
      }
    })();

    const statuses = new Map<number, number>();
    const failures: string[] = [];
    for (let batch = 0; batch < 50; batch++) {
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          const request = malformed(rng);
          const response = await fetch(`${base}${request.path ?? '/graphql'}`, {
            method: request.method,
            headers: {
              ...ATTACKER,
              ...(request.contentType ? { 'content-type': request.contentType } : {}),
              'apollo-require-preflight': 'true',
            },
            ...(request.body !== undefined ? { body: request.body } : {}),
          });
          const text = await response.text();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          if (response.status >= 500) failures.push(`${response.status} ${JSON.stringify(request).slice(0, 200)}`);
          if (response.status >= 400 && text.startsWith('{')) {
            const body = JSON.parse(text) as { errors?: { extensions?: { code?: unknown } }[] };
            if (typeof body.errors?.[0]?.extensions?.code !== 'string')
              failures.push(`no code: ${response.status} ${text.slice(0, 200)}`);
          }
        }),
      );
    }
    attacking = false;
    await honest;
    assert.deepEqual(failures, [], `statuses: ${JSON.stringify([...statuses])}`);
    assert.ok(served.length > 0 && served.every((status) => status === 200));
  });
});
