import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApolloServer } from '@apollo/server';
import { buildSchema, type OperationDefinitionNode, parse, specifiedRules, validate } from 'graphql';
import {
  aliasLimitRule,
  costLimitPlugin,
  depthLimitRule,
  directiveLimitRule,
  LIMITS,
  operationCost,
  rateLimitSubject,
} from '../src/limits.ts';

const schema = buildSchema(`
  type Query {
    product(id: ID!): Product
    products(first: Int = 20, after: String): ProductConnection!
    search(term: String!): [SearchResult!]!
    tags: [String!]!
  }
  type ProductConnection { totalCount: Int! edges: [ProductEdge!]! }
  type ProductEdge { cursor: String! node: Product! }
  type Product { id: ID! name: String! related: [Product!]! parent: Product }
  type Category { id: ID! name: String! }
  union SearchResult = Product | Category
`);

const errorsOf = (query: string, rules = [depthLimitRule(3), aliasLimitRule(3)]) =>
  validate(schema, parse(query), [...specifiedRules, ...rules]).map((e) => e.message);

function cost(query: string, variables?: Record<string, unknown>, defaultListSize?: number): number {
  const document = parse(query);
  const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
  assert.ok(operation);
  return operationCost(schema, document, operation, variables, defaultListSize);
}

describe('depth limit', () => {
  it('allows the limit and refuses one level more', () => {
    assert.deepEqual(errorsOf('{ product(id: 1) { parent { name } } }'), []);
    assert.deepEqual(errorsOf('{ product(id: 1) { parent { parent { name } } } }'), [
      'Query depth 4 exceeds the limit of 3',
    ]);
  });

  it('counts depth through fragments, named and inline', () => {
    const viaFragments = `
      query { product(id: 1) { ...P } }
      fragment P on Product { parent { ... on Product { parent { id } } } }`;
    assert.deepEqual(errorsOf(viaFragments), ['Query depth 4 exceeds the limit of 3']);
  });

  it('leaves introspection to the introspection switch', () => {
    assert.deepEqual(errorsOf('{ __schema { types { fields { type { ofType { ofType { name } } } } } } }'), []);
  });
});

describe('directive limit', () => {
  it('allows the limit and refuses one directive more', () => {
    const tags = (n: number) => `{ tags ${'@include(if: true) '.repeat(n)}}`;
    assert.deepEqual(
      errorsOf(tags(3), [directiveLimitRule(3)]).filter((m) => !m.includes('@include')),
      [],
    );
    assert.ok(errorsOf(tags(4), [directiveLimitRule(3)]).includes('Query uses 4 directives; the limit is 3'));
  });
});

describe('alias limit', () => {
  it('allows the limit and refuses one alias more, wherever they are', () => {
    assert.deepEqual(errorsOf('{ a: tags b: tags c: tags }'), []);
    assert.deepEqual(errorsOf('{ a: tags b: tags ...F } fragment F on Query { c: tags d: tags }'), [
      'Query uses 4 aliases; the limit is 3',
    ]);
  });
});

describe('operationCost', () => {
  it('counts one per field', () => {
    assert.equal(cost('{ product(id: 1) { id name } }'), 3);
    assert.equal(cost('{ tags }'), 1);
  });

  it('multiplies by first, from a literal, a variable, its default or the schema default', () => {
    const q = (first: string) => `query($n: Int = 7) { products${first} { totalCount edges { node { id } } } }`;
    // products = 1 + first × (totalCount 1 + edges 1 + node (1 + id 1)); edges do not multiply again.
    assert.equal(cost(q('(first: 5)')), 1 + 5 * 4);
    assert.equal(cost(q('(first: $n)'), { n: 50 }), 1 + 50 * 4);
    assert.equal(cost(q('(first: $n)')), 1 + 7 * 4);
    assert.equal(cost(q('')), 1 + 20 * 4);
  });

  it('assumes a default length for lists without first', () => {
    assert.equal(cost('{ product(id: 1) { related { id } } }'), 1 + (1 + 10 * 1));
    assert.equal(cost('{ product(id: 1) { related { id } } }', undefined, 3), 1 + (1 + 3 * 1));
    assert.equal(cost('{ product(id: 1) { related { related { id } } } }'), 1 + (1 + 10 * (1 + 10)));
  });

  it('counts every branch of an abstract type, and fragments where they are spread', () => {
    assert.equal(cost('{ search(term: "x") { ... on Product { id name } ... on Category { id } } }'), 1 + 10 * 3);
    const spread = '{ a: product(id: 1) { ...P } b: product(id: 2) { ...P } } fragment P on Product { id name }';
    assert.equal(cost(spread), 2 * (1 + 2));
  });

  it('ignores meta fields', () => {
    assert.equal(cost('{ __typename product(id: 1) { __typename id } }'), 2);
  });
});

describe('costLimitPlugin', () => {
  it('refuses an operation over the limit with a validation error and a 400', async () => {
    const server = new ApolloServer({
      typeDefs: 'type Query { items(first: Int): [Item!]! } type Item { id: ID! name: String! }',
      resolvers: { Query: { items: () => [] } },
      plugins: [costLimitPlugin(100)],
    });
    await server.start();
    try {
      const ok = await server.executeOperation({
        query: 'query($n: Int) { items(first: $n) { id name } }',
        variables: { n: 10 },
      });
      assert.equal(ok.body.kind === 'single' && ok.body.singleResult.errors, undefined);
      const tooMuch = await server.executeOperation({
        query: 'query($n: Int) { items(first: $n) { id name } }',
        variables: { n: 100 },
      });
      assert.equal(tooMuch.http.status, 400);
      assert.ok(tooMuch.body.kind === 'single');
      const error = tooMuch.body.singleResult.errors?.[0];
      assert.equal(error?.message, 'Query cost 201 exceeds the limit of 100');
      assert.equal(error?.extensions?.['code'], 'GRAPHQL_VALIDATION_FAILED');
      assert.equal(error?.extensions?.['http'], undefined);
    } finally {
      await server.stop();
    }
  });

  it('has limits that admit a page of 100 orders with their items', () => {
    const orderSchema = buildSchema(`
      type Query { myOrders(first: Int = 20): OrderConnection! }
      type OrderConnection { totalCount: Int! edges: [OrderEdge!]! }
      type OrderEdge { node: Order! }
      type Money { amount: Int! currency: String! }
      type Order { id: ID! number: String! status: String! total: Money! items: [Item!]! }
      type Item { quantity: Int! product: Product! unitPrice: Money! }
      type Product { id: ID! name: String! }
    `);
    const document =
      parse(`{ myOrders(first: 100) { totalCount edges { node { id number status total { amount currency }
      items { quantity unitPrice { amount currency } product { id name } } } } } }`);
    const operation = document.definitions[0] as OperationDefinitionNode;
    const total = operationCost(orderSchema, document, operation, undefined);
    assert.ok(total <= LIMITS.maxCost, `cost ${total}`);
  });
});

describe('rateLimitSubject', () => {
  it('keeps IPv4 addresses and groups IPv6 by /64', () => {
    assert.equal(rateLimitSubject('203.0.113.9'), '203.0.113.9');
    assert.equal(rateLimitSubject('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(rateLimitSubject('2001:db8:1:2::99'), '2001:db8:1:2::/64');
    assert.equal(rateLimitSubject('2001:DB8::1'), '2001:db8:0:0::/64');
    assert.equal(rateLimitSubject('::1'), '0:0:0:0::/64');
    assert.equal(rateLimitSubject('fe80::1%eth0'), 'fe80:0:0:0::/64');
  });
});
