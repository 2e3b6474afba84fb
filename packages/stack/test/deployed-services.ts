// What infra.unit.test.ts and deployment.unit.test.ts check the deployment files against: the services the stack
// runs, the config sections each one validates at start, and who owns which secret (SUBGRAPHS[].secrets).
import type { ConfigSection } from '@mall/platform';
import { routerConfig } from '@mall/router';
import { AVAILABLE_SUBGRAPHS, SUBGRAPHS } from '../src/index.ts';

export const DEPLOYED_SERVICES = [...AVAILABLE_SUBGRAPHS, 'router'] as const;

/** The service's own config sections, which `loadConfig` must accept together with the platform's variables. */
export async function configSectionsOf(service: (typeof DEPLOYED_SERVICES)[number]): Promise<ConfigSection<unknown>[]> {
  if (service === 'router') return [routerConfig];
  const module = await SUBGRAPHS.find((s) => s.name === service)!.load();
  return module.config ? [module.config] : [];
}

/** The subgraphs whose entry lists `variable` among their own secrets. */
export function secretOwners(variable: string): string[] {
  return SUBGRAPHS.filter((s) => variable in (s.secrets ?? {})).map((s) => s.name);
}
