import { Agent, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback, readBody, type Listening } from '../http/listen.ts';
import type { IamGate, Principal } from './gate.ts';
import { accessKeyIdOf, UnmodelledRequest, type Check, type ServiceRequest } from './requests.ts';

export type Protocol = 'json' | 'sqs' | 's3' | 'rest-json';

export type FrontOptions = {
  /** For messages: `DynamoDB`, `S3`, ... */
  service: string;
  protocol: Protocol;
  /** The emulator behind this front. */
  upstream: string;
  port: number;
  gate: IamGate;
  /** The authorizations a request needs. */
  checks: (request: ServiceRequest) => Check[];
  /** Whether `checks` reads the body (JSON APIs); S3 bodies stream through unread. */
  readsBody: boolean;
  /** A refusal the service itself would make after IAM (the SES sandbox), or undefined. */
  refuse?: (request: ServiceRequest, principal: Principal) => Promise<{ status: number; code: string; message: string } | undefined>;
  /**
   * S3 answers a GET or HEAD of a missing object with 403, not 404, to a caller who may not
   * list the bucket: the front does too, given whether this principal may list it.
   */
  mayList?: (request: ServiceRequest, principal: Principal) => Promise<boolean>;
  /** Told of every refusal, to be logged: a missing grant must be found, not guessed. */
  onDenied: (line: string) => void;
};

const MAX_JSON_BODY = 16 * 1024 * 1024;
const upstreamAgent = new Agent({ keepAlive: true });

/** An error as each protocol's SDK parses it into an exception named `code`. */
const sendError = (res: ServerResponse, protocol: Protocol, status: number, code: string, message: string, head: boolean) => {
  if (protocol === 's3') {
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(head ? undefined : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>`);
    return;
  }
  const type = code === 'AccessDenied' ? 'AccessDeniedException' : code;
  res.writeHead(status, {
    'content-type': protocol === 'rest-json' ? 'application/json' : 'application/x-amz-json-1.0',
    'x-amzn-errortype': type,
    // SQS's JSON protocol also names the error code of its query protocol.
    ...(protocol === 'sqs' ? { 'x-amzn-query-error': `${code === 'AccessDeniedException' ? 'AccessDenied' : code};Sender` } : {}),
  });
  res.end(JSON.stringify({ __type: type, message, Message: message }));
};

const escapeXml = (text: string) => text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * A front of one emulator that enforces IAM as AWS does: a request signed with a function's
 * access key is evaluated against that function's policies before the emulator sees it, and a
 * denied one is answered with AccessDenied in the service's own wire format. Requests signed
 * with any other key (the stack itself, tests, agents' local credentials) pass unchanged.
 */
export const startIamFront = async (options: FrontOptions): Promise<Listening> => {
  const upstream = new URL(options.upstream);

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer | undefined, notFoundIsDenied: boolean) => {
    const proxied = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent: upstreamAgent },
      (answer) => {
        if (notFoundIsDenied && answer.statusCode === 404) {
          answer.resume();
          sendError(res, 's3', 403, 'AccessDenied', 'Access Denied', req.method === 'HEAD');
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    proxied.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`local IAM front: ${options.service} emulator unreachable: ${error.message}`);
    });
    // A caller that goes away (a long poll stopped) ends the upstream request too.
    res.on('close', () => proxied.destroy());
    if (body) proxied.end(body);
    else req.pipe(proxied);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://local');
    const principal = options.gate.principalOf(accessKeyIdOf({ url, headers: req.headers }));
    if (!principal) return forward(req, res, undefined, false);
    const body = options.readsBody ? await readBody(req, MAX_JSON_BODY) : undefined;
    const request: ServiceRequest = { method: req.method ?? 'GET', url, headers: req.headers, ...(body ? { body } : {}) };
    const head = request.method === 'HEAD';
    let checks: Check[];
    try {
      checks = options.checks(request);
    } catch (error) {
      if (!(error instanceof UnmodelledRequest)) throw error;
      const message = `The local stack does not model the IAM authorization of ${error.message}`;
      options.onDenied(`${principal.sessionName}: ${message}`);
      return sendError(res, options.protocol, 403, 'AccessDenied', message, head);
    }
    for (const check of checks) {
      const decision = await options.gate.check(principal, check.action, check.resource);
      if (!decision.allowed) {
        options.onDenied(`${principal.sessionName}: AccessDenied: ${decision.message}`);
        return sendError(res, options.protocol, options.protocol === 'json' ? 400 : 403, 'AccessDenied', decision.message, head);
      }
    }
    const refusal = await options.refuse?.(request, principal);
    if (refusal) {
      options.onDenied(`${principal.sessionName}: ${refusal.code}: ${refusal.message}`);
      return sendError(res, options.protocol, refusal.status, refusal.code, refusal.message, head);
    }
    const readsObject = options.protocol === 's3' && (request.method === 'GET' || request.method === 'HEAD') && url.pathname.split('/').length > 2;
    const notFoundIsDenied = readsObject && options.mayList ? !(await options.mayList(request, principal)) : false;
    forward(req, res, body, notFoundIsDenied);
  };

  return listenOnLoopback(options.port, (req, res) => {
    handle(req, res).catch((error: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`local IAM front: ${error.message}`);
    });
  });
};
