import type { z } from 'zod';
import { enrolAgentInput, enrolledAgent, session, sessionInput, signedEnrolment } from '#shared/protocol/agents.ts';
import { AgentError } from './errors.ts';

/**
 * The three unauthenticated routes an agent calls (functions/api/routes.ts). There is no API
 * token: the enrolment token and, later, the agent's signing key are its credentials.
 * Responses are parsed with the same schemas the backend uses; nothing else is trusted.
 */

const REQUEST_TIMEOUT_MS = 30_000;

/** An answer from the backend other than success. `transient` says whether retrying may help. */
export class ApiError extends AgentError {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly transient: boolean,
  ) {
    super(message);
  }
}

export type Session = z.output<typeof session>;

export const createApi = (endpoint: string, fetchImpl: typeof fetch = globalThis.fetch) => {
  const base = endpoint.replace(/\/+$/, '');

  const call = async <S extends z.ZodType>(method: 'GET' | 'POST', path: string, schema: S, body?: unknown): Promise<z.output<S>> => {
    let response: Response;
    try {
      response = await fetchImpl(`${base}${path}`, {
        method,
        headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw new ApiError(`cannot reach ${base} (${(error as Error).name})`, undefined, true);
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      // problem+json: title and detail are written for people and never hold secrets (DESIGN §9).
      const problem = (json ?? {}) as { title?: unknown; detail?: unknown };
      const said = [problem.title, problem.detail].filter((part) => typeof part === 'string').join(': ');
      const transient = response.status >= 500 || response.status === 429;
      throw new ApiError(`${method} ${path} failed with ${response.status}${said ? ` (${said.slice(0, 300)})` : ''}`, response.status, transient);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new ApiError(`${method} ${path}: the backend's answer does not match the protocol`, response.status, false);
    return parsed.data;
  };

  return {
    getEnrolment: (enrolmentId: string) => call('GET', `/enrolments/${encodeURIComponent(enrolmentId)}`, signedEnrolment),
    enrol: (input: z.input<typeof enrolAgentInput>) => call('POST', '/agents', enrolledAgent, enrolAgentInput.parse(input)),
    session: (agentId: string, input: z.input<typeof sessionInput>) =>
      call('POST', `/agents/${encodeURIComponent(agentId)}/session`, session, sessionInput.parse(input)),
  };
};
export type AgentApi = ReturnType<typeof createApi>;
