import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { routes, type Route } from '#functions/api/routes.ts';
import { LOCAL_ACCOUNT } from './lambda-runtime.ts';
import { listenOnLoopback, readBody } from './http/listen.ts';
import { invokeFunction } from './lambda-runtime.ts';
import { localMetrics } from './metrics.ts';

/** API Gateway's own payload limit; handlers apply their tighter ones. */
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

type CompiledRoute = Route & { pattern: RegExp; paramNames: string[] };

const compile = (route: Route): CompiledRoute => {
  const paramNames: string[] = [];
  const source = route.path.replace(/\{([^}]+)\}/g, (_match, name: string) => {
    paramNames.push(name);
    return '([^/]+)';
  });
  return { ...route, pattern: new RegExp(`^${source}$`), paramNames };
};

// API Gateway base64-encodes bodies it does not know to be text.
const isText = (contentType: string | undefined) =>
  !contentType || /^(text\/|application\/(json|problem\+json|x-www-form-urlencoded|xml))/i.test(contentType);

// A malformed escape is passed on as it came, for the handler's validation to refuse.
const safeDecode = (value: string) => {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
};

const problem = (res: ServerResponse, status: number, title: string) => {
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ type: 'https://latchkey.dev/problems/not-found', title, status }));
};

/** Serves the route table the way API Gateway HTTP APIs do: payload format 2.0, same handlers. */
export const startHttpApi = async (port: number) => {
  const table = (routes as readonly Route[]).map(compile);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const candidates = table.filter((route) => route.pattern.test(url.pathname));
    const route = candidates.find((candidate) => candidate.method === method);
    localMetrics.httpRequest(route ? `${route.method} ${route.path}` : 'unmatched');
    if (!route) {
      // API Gateway answers an unmatched method and path alike: no route, Not Found.
      problem(res, 404, 'No such route');
      return;
    }
    const body = await readBody(req, MAX_PAYLOAD_BYTES);
    if (!body) {
      res.writeHead(413, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Request Entity Too Large' }));
      return;
    }
    const values = route.pattern.exec(url.pathname)!.slice(1);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
    }
    const query: Record<string, string> = {};
    for (const [name, value] of url.searchParams) query[name] = query[name] ? `${query[name]},${value}` : value;
    const text = isText(headers['content-type']);
    const routeKey = `${route.method} ${route.path}`;
    const now = new Date();
    const event: APIGatewayProxyEventV2 = {
      version: '2.0',
      routeKey,
      rawPath: url.pathname,
      rawQueryString: url.search.slice(1),
      headers,
      ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
      ...(route.paramNames.length
        ? { pathParameters: Object.fromEntries(route.paramNames.map((name, i) => [name, safeDecode(values[i]!)])) }
        : {}),
      requestContext: {
        accountId: LOCAL_ACCOUNT,
        apiId: 'local',
        domainName: headers.host ?? '127.0.0.1',
        domainPrefix: 'local',
        http: {
          method,
          path: url.pathname,
          protocol: `HTTP/${req.httpVersion}`,
          sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
          userAgent: headers['user-agent'] ?? '',
        },
        requestId: randomUUID(),
        routeKey,
        stage: '$default',
        time: now.toUTCString(),
        timeEpoch: now.getTime(),
      },
      ...(body.byteLength ? { body: text ? body.toString('utf8') : body.toString('base64') } : {}),
      isBase64Encoded: body.byteLength > 0 && !text,
    };
    let result: APIGatewayProxyStructuredResultV2;
    try {
      result = (await invokeFunction(route.function, event)) as APIGatewayProxyStructuredResultV2;
    } catch {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Internal Server Error' }));
      return;
    }
    const responseHeaders: Record<string, string | string[]> = { ...(result.headers as Record<string, string>) };
    if (result.cookies?.length) responseHeaders['set-cookie'] = result.cookies;
    res.writeHead(result.statusCode ?? 200, responseHeaders);
    res.end(result.body === undefined ? undefined : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8'));
  };

  return listenOnLoopback(port, (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
};
