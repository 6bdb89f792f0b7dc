import { readSecret as readFromTerminal } from '#shared/terminal/read-secret.ts';
import { UsageError } from './errors.ts';

/** A secret from piped stdin or a prompt that does not echo (shared/terminal/read-secret.ts). */
export const readSecret = (prompt: string) => readFromTerminal(prompt, () => new UsageError('Cancelled'));
