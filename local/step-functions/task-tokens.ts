import { randomBytes } from 'node:crypto';

type Waiter = {
  executionArn: string;
  stateName: string;
  timed: boolean;
  resolve: (output: unknown) => void;
  reject: (error: Error) => void;
  /** Set while the wait expects heartbeats: the interval, and the timer that fails it on silence. */
  heartbeat?: { seconds: number; timer: NodeJS.Timeout };
};

export class TaskFailure extends Error {
  constructor(error: string, cause: string) {
    super(cause);
    this.name = error;
  }
}

export class TokenError extends Error {
  constructor(readonly code: 'InvalidToken' | 'TaskTimedOut' | 'InvalidOutput', message: string) {
    super(message);
  }
}

/**
 * The task tokens of `.waitForTaskToken` states: each token is one promise that SendTask*
 * settles. A token is closed when its task ends for any reason (answered, timed out, execution
 * stopped), after which SendTask* answers TaskTimedOut as the real service does.
 */
export class TaskTokens {
  private readonly open = new Map<string, Waiter>();
  private readonly closed = new Set<string>();
  /** The execution of every token issued, answered or not (IAM evaluates an answer against its state machine). */
  private readonly executionOfToken = new Map<string, string>();

  executionOf(token: string): string | undefined {
    return this.executionOfToken.get(token);
  }

  /** `timed`: the wait ends itself at its deadline (expire), not when its state is seen to end. */
  issue(executionArn: string, stateName: string, timed = false): { token: string; settled: Promise<unknown> } {
    const token = randomBytes(64).toString('base64url');
    this.executionOfToken.set(token, executionArn);
    const settled = new Promise<unknown>((resolve, reject) => {
      this.open.set(token, { executionArn, stateName, timed, resolve, reject });
    });
    // The interpreter stops listening when the task times out; a later close must not become
    // an unhandled rejection.
    settled.catch(() => undefined);
    return { token, settled };
  }

  private take(token: string): Waiter {
    const waiter = this.open.get(token);
    if (waiter) {
      this.open.delete(token);
      this.closed.add(token);
      if (waiter.heartbeat) clearTimeout(waiter.heartbeat.timer);
      return waiter;
    }
    if (this.closed.has(token)) throw new TokenError('TaskTimedOut', 'Task Timed Out');
    throw new TokenError('InvalidToken', 'Invalid token');
  }

  succeed(token: string, output: string): void {
    let value: unknown;
    try {
      value = JSON.parse(output);
    } catch {
      throw new TokenError('InvalidOutput', 'Output is not valid JSON');
    }
    this.take(token).resolve(value);
  }

  fail(token: string, error: string, cause: string): void {
    this.take(token).reject(new TaskFailure(error, cause));
  }

  /** HeartbeatSeconds: the wait fails with States.HeartbeatTimeout when no heartbeat comes for this long. */
  expectHeartbeats(token: string, seconds: number): void {
    const waiter = this.open.get(token);
    if (!waiter) return;
    if (waiter.heartbeat) clearTimeout(waiter.heartbeat.timer);
    const timer = setTimeout(() => {
      if (this.open.get(token) === waiter) this.take(token).reject(new TaskFailure('States.HeartbeatTimeout', 'No heartbeat within HeartbeatSeconds'));
    }, seconds * 1000);
    timer.unref();
    waiter.heartbeat = { seconds, timer };
  }

  heartbeat(token: string): void {
    const waiter = this.open.get(token);
    if (!waiter) {
      this.take(token);
      return;
    }
    if (waiter.heartbeat) this.expectHeartbeats(token, waiter.heartbeat.seconds);
  }

  /** Ends one wait at its deadline: its task fails with States.Timeout. */
  expire(token: string): void {
    if (this.open.has(token)) this.take(token).reject(new TaskFailure('States.Timeout', 'The task timed out'));
  }

  /**
   * Closes the tokens of a state that ended, or of every state when stateName is omitted. A
   * timed wait is left to its deadline: the state's end is seen late, when the same state may
   * already wait again (a retry after a timeout), under a new token that must stay open.
   */
  close(executionArn: string, stateName?: string): void {
    for (const [token, waiter] of this.open) {
      if (waiter.executionArn === executionArn && (stateName === undefined || (waiter.stateName === stateName && !waiter.timed))) {
        this.open.delete(token);
        this.closed.add(token);
        if (waiter.heartbeat) clearTimeout(waiter.heartbeat.timer);
        waiter.reject(new TaskFailure('States.Timeout', 'The task was closed'));
      }
    }
  }
}
