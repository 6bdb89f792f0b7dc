import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../lambda-runtime.ts';
import { listenOnLoopback, readBody, type Listening } from '../http/listen.ts';
import { executionRecords } from './execution-records.ts';
import { Executions, type Execution } from './executions.ts';
import { TokenError } from './task-tokens.ts';

class ApiError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

type Machine = { stateMachineArn: string; name: string; definition: string; creationDate: Date };
type Request = Record<string, unknown>;

const seconds = (date: Date | undefined) => (date ? date.getTime() / 1000 : undefined);
const str = (value: unknown, field: string): string => {
  if (typeof value !== 'string' || value === '') throw new ApiError('ValidationException', `${field} is required`);
  return value;
};

const describe = (execution: Execution) => ({
  executionArn: execution.executionArn,
  stateMachineArn: execution.stateMachineArn,
  name: execution.name,
  status: execution.status,
  startDate: seconds(execution.startDate),
  stopDate: seconds(execution.stopDate),
  input: execution.input,
  output: execution.output,
  error: execution.error,
  cause: execution.cause,
});

/**
 * A Step Functions endpoint (AWS JSON 1.0 protocol) for the operations our code and tests use,
 * so the real SFN client talks to it unchanged. With `dataDir`, executions are kept there, and
 * `resume()` brings back those of an earlier run once their state machines are created again.
 */
export const startStepFunctions = async (port: number, sqs: SQSClient, dataDir?: string) => {
  const machines = new Map<string, Machine>();
  const records = executionRecords(dataDir);
  const executions = new Executions(sqs, records);

  const machine = (arn: unknown): Machine => {
    const found = machines.get(str(arn, 'stateMachineArn'));
    if (!found) throw new ApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${String(arn)}'`);
    return found;
  };
  const execution = (arn: unknown): Execution => {
    const found = executions.get(str(arn, 'executionArn'));
    if (!found) throw new ApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${String(arn)}'`);
    return found;
  };

  const operations: Record<string, (request: Request) => unknown> = {
    CreateStateMachine: (request) => {
      const name = str(request.name, 'name');
      const definition = str(request.definition, 'definition');
      try {
        JSON.parse(definition);
      } catch {
        throw new ApiError('InvalidDefinition', 'The definition is not JSON');
      }
      const stateMachineArn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${name}`;
      const existing = machines.get(stateMachineArn);
      if (existing && existing.definition !== definition) {
        throw new ApiError('StateMachineAlreadyExists', `State Machine Already Exists: '${stateMachineArn}'`);
      }
      const created = existing ?? { stateMachineArn, name, definition, creationDate: new Date() };
      machines.set(stateMachineArn, created);
      return { stateMachineArn, creationDate: seconds(created.creationDate) };
    },
    StartExecution: (request) => {
      const target = machine(request.stateMachineArn);
      const input = typeof request.input === 'string' ? request.input : '{}';
      try {
        JSON.parse(input);
      } catch {
        throw new ApiError('InvalidExecutionInput', 'Invalid execution input: not JSON');
      }
      const name = typeof request.name === 'string' ? request.name : undefined;
      const existing = name ? executions.findByName(target.stateMachineArn, name) : undefined;
      if (existing) {
        // Standard workflows: the same name and input while running is the same execution.
        if (existing.status === 'RUNNING' && existing.input === input) {
          return { executionArn: existing.executionArn, startDate: seconds(existing.startDate) };
        }
        throw new ApiError('ExecutionAlreadyExists', `Execution Already Exists: '${existing.executionArn}'`);
      }
      const started = executions.start(target.stateMachineArn, JSON.parse(target.definition), name, input);
      return { executionArn: started.executionArn, startDate: seconds(started.startDate) };
    },
    DescribeExecution: (request) => describe(execution(request.executionArn)),
    StopExecution: (request) => {
      const stopped = execution(request.executionArn);
      executions.stop(stopped.executionArn, request.error as string | undefined, request.cause as string | undefined);
      return { stopDate: seconds(stopped.stopDate ?? new Date()) };
    },
    SendTaskSuccess: (request) => {
      executions.tokens.succeed(str(request.taskToken, 'taskToken'), str(request.output, 'output'));
      return {};
    },
    SendTaskFailure: (request) => {
      const error = typeof request.error === 'string' ? request.error : 'States.TaskFailed';
      executions.tokens.fail(str(request.taskToken, 'taskToken'), error, typeof request.cause === 'string' ? request.cause : '');
      return {};
    },
    // The local stack's own: a fault test makes Lambda invocations of one state fail.
    LatchkeyInjectLambdaError: (request) => {
      const target = execution(request.executionArn);
      const error = str(request.error, 'error');
      if (!error.startsWith('Lambda.')) throw new ApiError('ValidationException', 'error must be a Lambda error (Lambda.*)');
      const times = typeof request.times === 'number' && Number.isInteger(request.times) && request.times > 0 ? request.times : 1;
      executions.injectLambdaError(target.executionArn, str(request.stateName, 'stateName'), error, times);
      return {};
    },
    LatchkeyLambdaErrorsLeft: (request) => ({ left: executions.lambdaErrorsLeft(execution(request.executionArn).executionArn) }),
    SendTaskHeartbeat: (request) => {
      executions.tokens.heartbeat(str(request.taskToken, 'taskToken'));
      return {};
    },
  };

  const send = (res: ServerResponse, status: number, body: unknown, errorCode?: string) => {
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.0',
      ...(errorCode ? { 'x-amzn-errortype': errorCode } : {}),
    });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const operation = String(req.headers['x-amz-target'] ?? '').replace('AWSStepFunctions.', '');
    try {
      const body = await readBody(req, 1024 * 1024);
      if (!body) throw new ApiError('ValidationException', 'Request too large');
      const run = operations[operation];
      if (!run) throw new ApiError('UnknownOperationException', `The local stack does not implement ${operation}`);
      send(res, 200, run(body.byteLength ? (JSON.parse(body.toString('utf8')) as Request) : {}));
    } catch (error) {
      const code = error instanceof ApiError || error instanceof TokenError ? error.code : 'InternalFailure';
      const status = code === 'InternalFailure' ? 500 : 400;
      send(res, status, { __type: `com.amazonaws.swf.service.v2.model#${code}`, message: (error as Error).message }, code);
    }
  };

  const listening: Listening = await listenOnLoopback(port, (req, res) => void handle(req, res));
  return {
    ...listening,
    /** The state machine whose execution issued a task token. */
    stateMachineOfToken: (token: string) => {
      const executionArn = executions.tokens.executionOf(token);
      return executionArn ? executions.get(executionArn)?.stateMachineArn : undefined;
    },
    resume: () => {
      for (const record of records.load()) {
        const definition = machines.get(record.stateMachineArn)?.definition;
        executions.resume(record, definition ? JSON.parse(definition) : undefined);
      }
    },
    close: async () => {
      executions.stopAll();
      await listening.close();
    },
  };
};
