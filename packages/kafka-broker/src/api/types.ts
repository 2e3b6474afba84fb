import type { Broker } from '../broker.ts';
import type { Type } from '../codec/schema.ts';

export interface RequestContext {
  apiVersion: number;
  correlationId: number;
  clientId: string;
  clientHost: string;
}

// biome-ignore lint/suspicious/noExplicitAny: the API table holds every request/response type; each handler narrows its own.
export interface ApiDef<Req = any, Res = any> {
  key: number;
  name: string;
  min: number;
  max: number;
  request: Type<Req>;
  response: Type<Res>;
  /** null = send no response (Produce with acks=0). */
  handle(b: Broker, req: Req, ctx: RequestContext): Res | null | Promise<Res | null>;
}

export function defineApi<Req, Res>(def: ApiDef<Req, Res>): ApiDef<Req, Res> {
  return def;
}
