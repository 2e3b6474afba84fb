import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import {
  ConfigError,
  configSection,
  defineConfig,
  domainDatabaseUrl,
  kafkaBrokers,
  loadConfig,
} from '../src/config.ts';
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
    assert.equal(config.database.statementCache, true);
    assert.equal(config.isProduction, false);
  });

  it('turns the prepared-statement cache off for a pooler that cannot carry it', () => {
    assert.equal(loadConfig({ DATABASE_STATEMENT_CACHE: 'false' }).database.statementCache, false);
    assert.throws(() => loadConfig({ DATABASE_STATEMENT_CACHE: 'sometimes' }), ConfigError);
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
    assert.equal(prod.shutdownDrainMs, 5_000);
    assert.equal(loadConfig({}).shutdownDrainMs, 0);
    // Service-specific secrets are never generated in production: the service that needs one refuses to start.
    await assert.rejects(
      devSecret(prod, 'auth-jwt-private-key.pem', undefined, () => 'generated'),
      /must be provided in production/,
    );
    assert.equal(await devSecret(prod, 'admin-password', 'given', () => 'generated'), 'given');
  });

  describe('service sections', () => {
    const shop = defineConfig(
      'shop',
      z
        .object({ SHOP_TIMEOUT_SECONDS: z.coerce.number().int().min(1).default(900), SHOP_KEY: z.string().min(3) })
        .transform((e) => ({ timeoutSeconds: e.SHOP_TIMEOUT_SECONDS, key: e.SHOP_KEY })),
    );

    it('validates a service section together with the platform variables, reporting both at once', () => {
      assert.throws(
        () => loadConfig({ PORT: 'abc', SHOP_TIMEOUT_SECONDS: '0' }, [shop]),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          const fields = err.issues.map((i) => i.split(':')[0]);
          assert.deepEqual(fields.sort(), ['PORT', 'SHOP_KEY', 'SHOP_TIMEOUT_SECONDS']);
          return true;
        },
      );
    });

    it('reads typed values of a section from the environment the config came from', () => {
      const config = loadConfig({ SHOP_KEY: 'abcd' }, [shop]);
      assert.deepEqual(configSection(config, shop), { timeoutSeconds: 900, key: 'abcd' });
      assert.equal(configSection(config, shop), configSection(config, shop), 'parsed once per config');
      // A service started without its section having been validated still fails with every problem listed.
      assert.throws(() => configSection(loadConfig({}), shop), /SHOP_KEY/);
    });

    it("keeps other services' variables out of the platform config", () => {
      const config = loadConfig({ AUTH_ACCESS_TOKEN_TTL_SECONDS: '60' });
      assert.equal('auth' in config, false);
      assert.equal('admin' in config, false);
    });
  });
});
