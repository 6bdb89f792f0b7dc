/**
 * Exit codes are part of the CLI's contract (scripts branch on them), so they live in one place
 * and `latchkey --help` prints this same table.
 */
export const ExitCode = {
  ok: 0,
  /** The API understood the request and refused it (a 4xx), or a check failed (audit verify). */
  refused: 1,
  /** The command line was wrong; nothing was sent. */
  usage: 2,
  /** The API could not be reached or failed (a 5xx). */
  unavailable: 3,
  /** Ctrl-C while following a deployment (`status --watch`): 128 + SIGINT, as shells expect. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const exitCodeHelp = `Exit codes:
  0  success
  1  the API refused the request (4xx), a name did not match, or audit verify found a broken chain or a rewritten history
  2  usage error: bad arguments or options, invalid input, not logged in (nothing was sent)
  3  the API could not be reached, or it failed (5xx)
  status --watch: 0 once the deployment Succeeded; 1 if it Failed, was Declined, Canceled or
  Expired; 130 when you stop watching with Ctrl-C (the deployment goes on without you)`;

/** Every failure the CLI reports on purpose; anything else is a bug and says so. */
export abstract class CliError extends Error {
  abstract readonly exitCode: ExitCode;
  /** The input field at fault, named as the API names it, when one is. */
  readonly field: string | undefined;
  /** A next step for the person at the keyboard, printed after the message. */
  readonly hint: string | undefined;

  constructor(message: string, options: { field?: string; hint?: string } = {}) {
    super(message);
    this.name = new.target.name;
    this.field = options.field;
    this.hint = options.hint;
  }
}

export class UsageError extends CliError {
  readonly exitCode = ExitCode.usage;
}

/** Refused without asking the API: an unknown name, an ambiguous one, a failed check. */
export class RefusedError extends CliError {
  readonly exitCode = ExitCode.refused;
}

export type Problem = { type: string; title: string; status: number; field?: string; detail?: string };

/** An application/problem+json answer (or any non-2xx answer, read as one). */
export class ApiProblem extends CliError {
  readonly exitCode: ExitCode;
  constructor(
    readonly problem: Problem,
    options: { hint?: string } = {},
  ) {
    super(problem.title, { ...(problem.field === undefined ? {} : { field: problem.field }), ...options });
    this.exitCode = problem.status >= 500 ? ExitCode.unavailable : ExitCode.refused;
  }
}

export class ApiUnreachable extends CliError {
  readonly exitCode = ExitCode.unavailable;
}

/** Ctrl-C while following something: not a failure of the thing followed, so no "Error:". */
export class Interrupted extends CliError {
  readonly exitCode = ExitCode.interrupted;
}
