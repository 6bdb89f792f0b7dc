/** Errors the agent's commands end with; the entry point prints the message and exits non-zero. */
export class AgentError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad command-line input: exit 2, like the CLI. */
export class UsageError extends AgentError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** The state directory is missing, unsafe or in the wrong phase (not initialised, not enrolled…). */
export class StateError extends AgentError {}

/** What the backend said or did cannot be trusted: refuse rather than continue. */
export class TrustError extends AgentError {}
