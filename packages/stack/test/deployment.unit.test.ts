// docker-compose.yaml and the Dockerfile cannot run on machines without a Docker engine, so they are
// checked here instead: every service the stack runs is deployed, starts an entry point that exists, and is
// configured with variables loadConfig accepts in production.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '@mall/platform';
import { parse } from 'yaml';
import { SUBGRAPHS } from '../src/index.ts';
import { configSectionsOf, DEPLOYED_SERVICES, secretOwners } from './deployed-services.ts';

const root = new URL('../../../', import.meta.url);
interface ComposeService {
  command?: string[];
  environment?: Record<string, string>;
  build?: string;
}
const compose = parse(readFileSync(new URL('docker-compose.yaml', root), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};

/** `${VAR:?message}` / `${VAR:-default}` → a plausible value, as Compose would substitute from .env. */
function substitute(value: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::[?-]([^}]*))?\}/g, (_m, name: string, rest: string | undefined) => {
    if (name === 'MALL_INTERNAL_SECRET') return 'x'.repeat(40);
    if (name.endsWith('_EMAIL')) return 'admin@example.com';
    return rest && !rest.startsWith('set ') ? rest : `value-of-${name.toLowerCase()}`;
  });
}

describe('deployment files', () => {
  it('deploy every service the stack runs, each with an existing entry point', () => {
    for (const name of DEPLOYED_SERVICES) {
      const service = compose.services[name];
      assert.ok(service, `docker-compose.yaml has no ${name} service`);
      const entry = service.command?.[1];
      assert.ok(entry && existsSync(new URL(entry, root)), `${name} runs ${entry}, which does not exist`);
    }
  });

  it('configure each service with variables loadConfig accepts in production', async () => {
    for (const name of DEPLOYED_SERVICES) {
      const env = Object.fromEntries(
        Object.entries(compose.services[name]?.environment ?? {}).map(([k, v]) => [k, substitute(String(v))]),
      );
      assert.equal(env['NODE_ENV'], 'production', `${name} must run in production mode`);
      const sections = await configSectionsOf(name);
      try {
        const config = loadConfig(env, sections);
        assert.deepEqual(config.kafka.brokers, ['kafka:9092'], `${name} must use the real Kafka`);
        if (name !== 'router') assert.ok(env['MALL_WORKER_ID'], `${name} needs its own MALL_WORKER_ID`);
        // Least privilege: a subgraph's own secrets (SUBGRAPHS[].secrets) reach that subgraph alone.
        for (const owner of SUBGRAPHS) {
          for (const variable of Object.keys(owner.secrets ?? {}))
            assert.equal(variable in env, name === owner.name, `${name} and ${variable}`);
        }
      } catch (err) {
        assert.fail(`${name}: ${err instanceof ConfigError ? err.issues.join('; ') : String(err)}`);
      }
    }
    const workerIds = Object.values(compose.services).flatMap((s) =>
      s.environment?.['MALL_WORKER_ID'] ? [s.environment['MALL_WORKER_ID']] : [],
    );
    assert.equal(new Set(workerIds).size, workerIds.length, 'snowflake worker ids must be unique');
    // Only auth can mint access tokens, only user knows the bootstrap admin's password.
    assert.deepEqual(secretOwners('AUTH_JWT_PRIVATE_KEY'), ['auth']);
    assert.deepEqual(secretOwners('MALL_ADMIN_PASSWORD'), ['user']);
  });

  it('install every workspace in the image', () => {
    const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');
    const workspaces = [
      ...readdirSync(new URL('packages/', root)).map((d) => `packages/${d}`),
      ...readdirSync(new URL('subgraphs/', root)).map((d) => `subgraphs/${d}`),
      'router',
    ].filter((dir) => existsSync(new URL(`${dir}/package.json`, root)));
    for (const dir of workspaces)
      assert.match(dockerfile, new RegExp(`COPY ${dir}/package.json ${dir}/`), `Dockerfile misses ${dir}/package.json`);
  });
});
