import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromZodIssues } from '../src/errors.ts';
import {
  add,
  formatMoney,
  isCurrency,
  MONEY_SDL,
  MoneyError,
  MoneyInput,
  money,
  multiply,
  subtract,
  sum,
} from '../src/money.ts';
import { assertMoneyType } from '../src/testing/index.ts';

describe('money', () => {
  test('money() accepts safe integers in a supported currency and defaults to CNY', () => {
    assert.deepEqual(money(1999), { amount: 1999, currency: 'CNY' });
    assert.deepEqual(money(500, 'JPY'), { amount: 500, currency: 'JPY' });
    assert.throws(() => money(19.99), MoneyError);
    assert.throws(() => money(Number.MAX_SAFE_INTEGER + 1), MoneyError);
    assert.throws(() => money(Number.NaN), MoneyError);
    assert.throws(() => money(1, 'XYZ'), /Unsupported currency XYZ/);
    assert.throws(() => money(1, 'cny'), MoneyError);
    assert.equal(isCurrency('toString'), false, 'inherited object keys are no currencies');
  });

  test('add, subtract and sum stay in one currency', () => {
    assert.deepEqual(add(money(150), money(250)), money(400));
    assert.deepEqual(subtract(money(150), money(250)), money(-100));
    assert.deepEqual(sum([money(1), money(2), money(3)]), money(6));
    assert.deepEqual(sum([], 'USD'), money(0, 'USD'));
    assert.deepEqual(sum([]), money(0, 'CNY'));
    assert.throws(() => add(money(1, 'CNY'), money(1, 'USD')), /Cannot combine CNY and USD/);
    assert.throws(() => sum([money(1, 'CNY'), money(1, 'CNY'), money(1, 'HKD')]), MoneyError);
    assert.throws(() => sum([money(1, 'EUR')], 'CNY'), MoneyError, 'the named currency must match the items');
  });

  test('multiply takes an integer quantity and refuses to overflow', () => {
    assert.deepEqual(multiply(money(1999), 3), money(5997));
    assert.deepEqual(multiply(money(1999), 0), money(0));
    assert.throws(() => multiply(money(1999), 1.5), /Quantity/);
    assert.throws(() => multiply(money(Number.MAX_SAFE_INTEGER), 2), MoneyError);
    assert.throws(() => add(money(Number.MAX_SAFE_INTEGER), money(1)), MoneyError);
  });

  test('formatMoney places the decimal point by the currency exponent', () => {
    assert.equal(formatMoney(money(1999)), 'CNY 19.99');
    assert.equal(formatMoney(money(5, 'USD')), 'USD 0.05');
    assert.equal(formatMoney(money(-5, 'USD')), 'USD -0.05');
    assert.equal(formatMoney(money(0, 'EUR')), 'EUR 0.00');
    assert.equal(formatMoney(money(1999, 'JPY')), 'JPY 1999');
  });

  test('MoneyInput validates a price input and defaults the currency', () => {
    assert.deepEqual(MoneyInput.parse({ amount: 100 }), money(100));
    assert.deepEqual(MoneyInput.parse({ amount: 100, currency: null }), money(100));
    assert.deepEqual(MoneyInput.parse({ amount: 0, currency: 'GBP' }), money(0, 'GBP'));
    const problems = (input: unknown) => {
      const parsed = MoneyInput.safeParse(input);
      assert.equal(parsed.success, false, JSON.stringify(input));
      return (fromZodIssues(parsed.error?.issues ?? []).extensions['problems'] as { field: string }[]).map(
        (p) => p.field,
      );
    };
    assert.deepEqual(problems({ amount: -1 }), ['amount']);
    assert.deepEqual(problems({ amount: 1.5 }), ['amount']);
    assert.deepEqual(problems({ amount: 2 ** 53 }), ['amount']);
    assert.deepEqual(problems({ amount: 1, currency: 'BTC' }), ['currency']);
  });

  test('the SDL fragment declares a shareable Money, and a subgraph copy is checked against it', () => {
    assert.match(MONEY_SDL, /type Money @shareable \{/);
    assert.match(MONEY_SDL, /amount: Int!/);
    assert.match(MONEY_SDL, /currency: String!/);
    const subgraph = (money: string) => `type Query { price: Money }\n${money}\ntype Product { id: ID! }`;
    assertMoneyType(subgraph(MONEY_SDL));
    for (const drifted of [
      MONEY_SDL.replace(' @shareable', ''),
      MONEY_SDL.replace('amount: Int!', 'amount: Float!'),
      MONEY_SDL.replace('currency: String!', 'currency: String'),
      '',
    ]) {
      assert.throws(() => assertMoneyType(subgraph(drifted)), /declared exactly as MONEY_SDL/);
    }
  });
});
