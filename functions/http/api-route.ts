import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { z } from 'zod';
import type { Actor } from '#shared/domain/access/actor.ts';
import { routeKey, routes, type Route } from '../api/routes.ts';
import { httpHandler } from './http-handler.ts';
import { parseJsonBody, validate } from './request.ts';
import { json } from './response.ts';

type AnyRoute = (typeof routes)[number];
export type RouteKey = `${AnyRoute['method']} ${AnyRoute['path']}` & string;
type RouteByKey<K extends string> = K extends `${infer M} ${infer P}` ? Extract<AnyRoute, { method: M; path: P }> : never;
type Part<R, F extends string> = R extends { [key in F]: infer S extends z.ZodType } ? z.infer<S> : undefined;

export type RouteRequest<K extends RouteKey> = {
  actor: RouteByKey<K> extends { auth: 'token' } ? Actor : undefined;
  params: Part<RouteByKey<K>, 'params'>;
  query: Part<RouteByKey<K>, 'query'>;
  body: Part<RouteByKey<K>, 'body'>;
  event: APIGatewayProxyEventV2;
};

export type RouteHandler<K extends RouteKey> = (request: RouteRequest<K>) => Promise<unknown>;

export const routeFor = <K extends RouteKey>(key: K): RouteByKey<K> => {
  const found = routes.find((route) => routeKey(route) === key);
  if (!found) throw new Error(`No route ${key} in the route table`);
  return found as RouteByKey<K>;
};

const bearer = (event: APIGatewayProxyEventV2): string | undefined => {
  const header = event.headers?.authorization;
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header.trim()) : null;
  return match?.[1];
};

/**
 * A route's handler: authenticate first (so nothing about a request is judged before we know
 * who sent it), then validate params, query and body with the route table's own schemas.
 */
export const apiHandler = <K extends RouteKey>(
  key: K,
  run: RouteHandler<K>,
  authenticate?: (secret: string | undefined) => Promise<Actor>,
) => {
  const route = routeFor(key) as unknown as Route;
  if (route.auth === 'token' && !authenticate) throw new Error(`${key} needs an authenticator`);
  return httpHandler(async (event) => {
    const actor = route.auth === 'token' ? await authenticate!(bearer(event)) : undefined;
    const request = {
      actor,
      params: route.params ? validate(route.params, event.pathParameters ?? {}) : undefined,
      query: route.query ? validate(route.query, event.queryStringParameters ?? {}) : undefined,
      body: route.body ? parseJsonBody(event, route.body) : undefined,
      event,
    } as RouteRequest<K>;
    return json(route.response.status, await run(request));
  });
};
