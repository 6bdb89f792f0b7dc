/**
 * JSON-lines logger for the agent. Fields are typed as scalars on purpose: a Buffer or key object
 * cannot be passed by accident, so key bytes never reach a log. Log ids (request, agent,
 * message), never payloads.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
export const LOG_LEVELS = Object.keys(RANK) as LogLevel[];

export const createLogger = (level: LogLevel, write: (line: string) => void = (line) => process.stderr.write(line)): Logger => {
  const at =
    (lvl: LogLevel) =>
    (msg: string, fields: LogFields = {}) => {
      if (RANK[lvl] < RANK[level]) return;
      write(`${JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields })}\n`);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
};

/** What of an error may be logged: its class, crypto reason and message (ours never hold key bytes), bounded. */
export const errorFields = (error: unknown): LogFields => {
  if (!(error instanceof Error)) return { error: 'non-error thrown' };
  const reason = (error as { reason?: unknown }).reason;
  return {
    error: error.name,
    ...(typeof reason === 'string' ? { reason } : {}),
    detail: error.message.slice(0, 300),
  };
};
