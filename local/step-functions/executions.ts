import '../polyfills.ts';
import { randomUUID } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import { functionNameOf, invokeFunction, LOCAL_ACCOUNT, LOCAL_REGION } from '../lambda-runtime.ts';
import { localMetrics } from '../metrics.ts';
import { executionRecords, type ExecutionRecord, type ExecutionRecords } from './execution-records.ts';
import { TaskFailure, TaskTokens } from './task-tokens.ts';

export type ExecutionStatus = ExecutionRecord['status'];

export type Execution = ExecutionRecord & { abort: () => void };

type Definition = { StartAt: string; States: Record<string, StateDefinition> };
type StateDefinition = {
  Type: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  TimeoutSecondsPath?: string;
  HeartbeatSeconds?: number;
  HeartbeatSecondsPath?: string;
  Branches?: Definition[];
  Iterator?: Definition;
  ItemProcessor?: Definition;
};

// The interpreter evaluates `$$.Task.Token` from the context object before our task code runs,
// so it sees this placeholder, which each task swaps for a token of its own.
const TOKEN_PLACEHOLDER = '__latchkey_local_task_token__';

const swapToken = (value: unknown, token: string): unknown => {
  if (typeof value === 'string') return value.replaceAll(TOKEN_PLACEHOLDER, token);
  if (Array.isArray(value)) return value.map((item) => swapToken(item, token));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, swapToken(item, token)]));
  }
  return value;
};

// The interpreter reads TimeoutSecondsPath from the input after Parameters; Step Functions
// reads it from the state input. Carrying the value through Parameters under a key of ours
// keeps ASL written for the real service working here.
const TIMEOUT_KEY = '__latchkey_timeout_seconds';
// The interpreter knows nothing of heartbeats: a wait's heartbeat interval is carried the same way
// and kept by our task tokens (SendTaskHeartbeat resets it; silence fails the task).
const HEARTBEAT_KEY = '__latchkey_heartbeat_seconds';

const adaptTimeoutPaths = (definition: Definition): Definition => ({
  ...definition,
  States: Object.fromEntries(
    Object.entries(definition.States).map(([name, state]) => {
      const adapted: StateDefinition = {
        ...state,
        ...(state.Branches ? { Branches: state.Branches.map(adaptTimeoutPaths) } : {}),
        ...(state.Iterator ? { Iterator: adaptTimeoutPaths(state.Iterator) } : {}),
        ...(state.ItemProcessor ? { ItemProcessor: adaptTimeoutPaths(state.ItemProcessor) } : {}),
      };
      if (state.Type === 'Task' && state.TimeoutSecondsPath && state.Parameters) {
        adapted.Parameters = { ...state.Parameters, [`${TIMEOUT_KEY}.$`]: state.TimeoutSecondsPath };
        adapted.TimeoutSecondsPath = `$.${TIMEOUT_KEY}`;
      }
      if (state.Type === 'Task' && (state.HeartbeatSecondsPath || state.HeartbeatSeconds) && adapted.Parameters) {
        adapted.Parameters = {
          ...adapted.Parameters,
          ...(state.HeartbeatSecondsPath ? { [`${HEARTBEAT_KEY}.$`]: state.HeartbeatSecondsPath } : { [HEARTBEAT_KEY]: state.HeartbeatSeconds }),
        };
        delete adapted.HeartbeatSecondsPath;
        delete adapted.HeartbeatSeconds;
      }
      return [name, adapted];
    }),
  ),
});

const MAX_TIMER_MS = 2 ** 31 - 1;

const taskStates = (definition: Definition): [string, StateDefinition][] =>
  Object.entries(definition.States).flatMap(([name, state]) => [
    ...(state.Type === 'Task' ? [[name, state] as [string, StateDefinition]] : []),
    ...(state.Branches ?? []).flatMap(taskStates),
    ...[state.Iterator, state.ItemProcessor].filter((d): d is Definition => !!d).flatMap(taskStates),
  ]);

const invokeLambda = async (functionName: unknown, payload: unknown): Promise<unknown> => {
  const name = typeof functionName === 'string' ? functionNameOf(functionName) : undefined;
  if (!name) throw new TaskFailure('Lambda.ResourceNotFoundException', `Function not found: ${String(functionName)}`);
  try {
    return await invokeFunction(name, payload);
  } catch (error) {
    const err = error as Error;
    throw new TaskFailure(err.name || 'Error', JSON.stringify({ errorType: err.name, errorMessage: err.message }));
  }
};

/** Runs state machines with aws-local-stepfunctions, adding what it lacks: tokens and integrations. */
export class Executions {
  private readonly executions = new Map<string, Execution>();
  /** The wait deadlines a resumed execution was recorded with, each used by the first wait of its state. */
  private readonly resumedDeadlines = new Map<string, Record<string, number>>();
  readonly tokens = new TaskTokens();
  /** Lambda errors to answer instead of invoking (executionArn + state -> error, times left): fault tests. */
  private readonly lambdaFaults = new Map<string, { error: string; times: number }>();

  /** The next `times` Lambda invocations of `stateName` in this execution fail with `error`, as a throttled Lambda would. */
  injectLambdaError(executionArn: string, stateName: string, error: string, times: number): void {
    this.lambdaFaults.set(`${executionArn}\n${stateName}`, { error, times });
  }

  /** How many injected errors are still to come, per state of this execution. */
  lambdaErrorsLeft(executionArn: string): Record<string, number> {
    const prefix = `${executionArn}\n`;
    return Object.fromEntries([...this.lambdaFaults].filter(([key]) => key.startsWith(prefix)).map(([key, fault]) => [key.slice(prefix.length), fault.times]));
  }

  private takeLambdaFault(executionArn: string, stateName: string): string | undefined {
    const fault = this.lambdaFaults.get(`${executionArn}\n${stateName}`);
    if (!fault || fault.times < 1) return undefined;
    fault.times -= 1;
    return fault.error;
  }

  /** `records` keeps executions across restarts (see resume); in memory only by default. */
  constructor(
    private readonly sqs: SQSClient,
    private readonly records: ExecutionRecords = executionRecords(),
  ) {}

  get(executionArn: string): Execution | undefined {
    return this.executions.get(executionArn);
  }

  findByName(stateMachineArn: string, name: string): Execution | undefined {
    return this.executions.get(this.arnFor(stateMachineArn, name));
  }

  private arnFor(stateMachineArn: string, name: string): string {
    const machineName = stateMachineArn.split(':').pop();
    return `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:execution:${machineName}:${name}`;
  }

  private taskHandler(executionArn: string, stateName: string, resource: string) {
    const [integration, pattern] = resource.replace('arn:aws:states:::', '').split('.') as [string, string | undefined];
    const waits = pattern === 'waitForTaskToken';
    return async (input: Record<string, unknown>): Promise<unknown> => {
      const { [TIMEOUT_KEY]: timeout, [HEARTBEAT_KEY]: heartbeat, ...rest } = input;
      const timed = typeof timeout === 'number';
      const ticket = waits ? this.tokens.issue(executionArn, stateName, timed) : undefined;
      if (ticket && timed) this.keepDeadline(executionArn, stateName, timeout, ticket);
      if (ticket && typeof heartbeat === 'number') this.tokens.expectHeartbeats(ticket.token, heartbeat);
      const params = (ticket ? swapToken(rest, ticket.token) : rest) as Record<string, unknown>;
      let result: unknown;
      if (resource.startsWith('arn:aws:lambda:')) {
        return invokeLambda(resource, params);
      } else if (integration === 'lambda:invoke') {
        const fault = this.takeLambdaFault(executionArn, stateName);
        if (fault) throw new TaskFailure(fault, `${fault}: injected by the local stack`);
        result = { ExecutedVersion: '$LATEST', StatusCode: 200, Payload: await invokeLambda(params.FunctionName, params.Payload) };
      } else if (integration === 'sqs:sendMessage') {
        const body = params.MessageBody;
        const sent = await this.sqs.send(
          new SendMessageCommand({
            QueueUrl: String(params.QueueUrl),
            MessageBody: typeof body === 'string' ? body : JSON.stringify(body),
          }),
        );
        result = { MessageId: sent.MessageId, MD5OfMessageBody: sent.MD5OfMessageBody };
      } else {
        throw new TaskFailure('States.Runtime', `The local stack does not support the resource ${resource}`);
      }
      return ticket ? ticket.settled : result;
    };
  }

  /**
   * The interpreter times a wait from the moment its task starts, and a resumed execution starts
   * its tasks again: so the deadline of each wait is recorded, and the first wait of a state in a
   * resumed execution ends at the deadline recorded before the restart. Every wait ends at its
   * own deadline by expiring its own token (the task then fails with States.Timeout, as it
   * would have): a state waiting again (after a timeout it caught) has a deadline of its own.
   */
  private keepDeadline(executionArn: string, stateName: string, timeoutSeconds: number, ticket: { token: string; settled: Promise<unknown> }) {
    const execution = this.executions.get(executionArn);
    if (!execution) return;
    const resumed = this.resumedDeadlines.get(executionArn);
    const deadline = resumed?.[stateName] ?? Date.now() + timeoutSeconds * 1000;
    if (resumed) delete resumed[stateName];
    execution.waitDeadlines[stateName] = deadline;
    this.records.save(execution);
    const delay = Math.max(0, deadline - Date.now());
    // Longer than a timer can wait (about 24.8 days): left to the interpreter's own timeout.
    const timer = delay <= MAX_TIMER_MS ? setTimeout(() => this.tokens.expire(ticket.token), delay) : undefined;
    const ended = () => {
      clearTimeout(timer);
      if (execution.waitDeadlines[stateName] === deadline) delete execution.waitDeadlines[stateName];
      this.records.save(execution);
    };
    ticket.settled.then(ended, ended);
  }

  start(stateMachineArn: string, definition: Definition, name: string | undefined, input: string): Execution {
    const executionName = name ?? randomUUID();
    const execution: Execution = {
      executionArn: this.arnFor(stateMachineArn, executionName),
      stateMachineArn,
      name: executionName,
      status: 'RUNNING',
      startDate: new Date(),
      input,
      waitDeadlines: {},
      abort: () => undefined,
    };
    return this.run(execution, definition);
  }

  /**
   * An execution recorded by an earlier run of the local stack: a finished one is kept for
   * DescribeExecution, a running one runs again from the start with its name, input, start
   * date and wait deadlines. That is safe because every task of our workflows is idempotent
   * (a repeated task finds its work done), as the at-least-once delivery of AWS requires anyway.
   */
  resume(record: ExecutionRecord, definition: Definition | undefined): Execution {
    const execution: Execution = { ...record, abort: () => undefined };
    this.resumedDeadlines.set(record.executionArn, { ...record.waitDeadlines });
    if (record.status !== 'RUNNING') {
      this.executions.set(record.executionArn, execution);
      return execution;
    }
    if (!definition) {
      Object.assign(execution, { status: 'FAILED', stopDate: new Date(), error: 'Local.Resume', cause: 'Its state machine no longer exists' });
      this.executions.set(record.executionArn, execution);
      this.records.save(execution);
      return execution;
    }
    return this.run(execution, definition);
  }

  private run(execution: Execution, serviceDefinition: Definition): Execution {
    const { executionArn, stateMachineArn, name: executionName, startDate, input } = execution;
    const definition = adaptTimeoutPaths(serviceDefinition);
    const overrides = Object.fromEntries(
      taskStates(definition).map(([stateName, state]) => [stateName, this.taskHandler(executionArn, stateName, state.Resource ?? '')]),
    );
    const machine = new StateMachine(definition as never, { validationOptions: { checkArn: false, checkPaths: false } });
    const parsedInput: unknown = JSON.parse(input);
    // Known before it runs: a machine that starts with a wait records its deadline at once.
    this.executions.set(executionArn, execution);
    const run = machine.run(parsedInput as never, {
      overrides: { taskResourceLocalHandlers: overrides as never },
      noThrowOnAbort: true,
      context: {
        Execution: { Id: executionArn, Name: executionName, StartTime: startDate.toISOString() },
        StateMachine: { Id: stateMachineArn },
        Task: { Token: TOKEN_PLACEHOLDER },
      } as never,
    });
    execution.abort = run.abort;
    this.records.save(execution);
    void this.followStateEvents(executionArn, run.eventLogs);
    run.result.then(
      (output: unknown) => {
        if (execution.status !== 'RUNNING') return;
        Object.assign(execution, { status: 'SUCCEEDED', stopDate: new Date(), output: JSON.stringify(output ?? null) });
        this.records.save(execution);
      },
      (failure: unknown) => {
        if (execution.status !== 'RUNNING') return;
        const cause = failure instanceof ExecutionError ? (failure.cause as Error) : (failure as Error);
        const timedOut = (failure as Error).name === 'ExecutionTimeoutError';
        Object.assign(execution, {
          status: timedOut ? 'TIMED_OUT' : 'FAILED',
          stopDate: new Date(),
          error: timedOut ? 'States.Timeout' : cause.name,
          cause: cause.message,
        });
        this.records.save(execution);
      },
    ).finally(() => this.tokens.close(executionArn));
    return execution;
  }

  /** Closes the tokens of states that ended, and counts what Step Functions bills: states entered and retries. */
  private async followStateEvents(executionArn: string, events: AsyncGenerator<{ type: string; state?: { name: string } }>) {
    for await (const event of events) {
      if (event.type === 'StateEntered' || event.type === 'StateRetried') localMetrics.stateTransition();
      if ((event.type === 'StateFailed' || event.type === 'StateExited') && event.state) {
        this.tokens.close(executionArn, event.state.name);
      }
    }
  }

  stop(executionArn: string, error?: string, cause?: string): Execution | undefined {
    const execution = this.executions.get(executionArn);
    if (!execution || execution.status !== 'RUNNING') return execution;
    Object.assign(execution, { status: 'ABORTED', stopDate: new Date(), error, cause });
    this.records.save(execution);
    execution.abort();
    this.tokens.close(executionArn);
    return execution;
  }

  /** On shutdown: what was running stays recorded as running, to be resumed by the next start. */
  stopAll(): void {
    this.records.detach();
    for (const arn of this.executions.keys()) this.stop(arn, 'Local.Shutdown', 'The local stack stopped');
  }
}
