import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, domainDatabaseUrl, kafkaBrokers, loadConfig } from '../src/config.ts';
import { devSecret } from '../src/secrets.ts';

describe('loadConfig', () => {
  it('applies the contract defaults', () => {
    const config = loadConfig({});
    assert.equal(config.port, 4000);
    assert.equal(config.subgraphs.auth.port, 4001);
    assert.equal(config.subgraphs.user.url, 'http://127.0.0.1:4002/graphql');
    assert.equal(domainDatabaseUrl(config, 'user'), 'postgresql://postgres@127.0.0.1:5432/mall_user');
    assert.deepEqual(kafkaBrokers(config), ['127.0.0.1:9092']);
    assert.equal(config.kafka.brokers, undefined);
    assert.equal(config.rateLimit.ipPerMinute, 1200);
    assert.equal(config.isProduction, false);
  });

  it('honours per-domain overrides', () => {
    const config = loadConfig({
      PORT: '5000',
      USER_PORT: '6000',
      AUTH_DATABASE_URL: 'postgresql://a@db:5432/auth',
      KAFKA_BROKERS: 'k1:9092, k2:9092',
    });
    assert.equal(config.subgraphs.user.port, 6000);
    assert.equal(config.subgraphs.auth.port, 5001);
    assert.equal(domainDatabaseUrl(config, 'auth'), 'postgresql://a@db:5432/auth');
    assert.deepEqual(kafkaBrokers(config), ['k1:9092', 'k2:9092']);
  });

  it('reports every problem at once', () => {
    assert.throws(
      () =>
        loadConfig({
          PORT: 'abc',
          REDIS_URL: 'http://nope',
          MALL_DB_PREFIX: 'Bad-Prefix',
          RATE_LIMIT_IP_PER_MINUTE: '-1',
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const fields = err.issues.map((i) => i.split(':')[0]);
        assert.deepEqual(fields.sort(), ['MALL_DB_PREFIX', 'PORT', 'RATE_LIMIT_IP_PER_MINUTE', 'REDIS_URL']);
        return true;
      },
    );
  });

  it('demands real secrets in production', async () => {
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.issues, ['MALL_INTERNAL_SECRET: required when NODE_ENV=production']);
        return true;
      },
    );
    assert.throws(() => loadConfig({ NODE_ENV: 'production', MALL_INTERNAL_SECRET: 'short' }), /at least 32/);
    const prod = loadConfig({
      NODE_ENV: 'production',
      MALL_INTERNAL_SECRET: 'x'.repeat(32),
      MALL_DATA_DIR: '/nonexistent',
    });
    assert.equal(prod.isProduction, true);
    assert.equal(prod.supergraph.hotReload, false);
    // Service-specific secrets are never generated in production: the service that needs one refuses to start.
    await assert.rejects(
      devSecret(prod, 'auth-jwt-private-key.pem', undefined, () => 'generated'),
      /must be provided in production/,
    );
    assert.equal(await devSecret(prod, 'admin-password', 'given', () => 'generated'), 'given');
  });
});
