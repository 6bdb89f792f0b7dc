import { setTimeout as delay } from 'node:timers/promises';
import { StepFailed } from './processes.ts';

/** Polls until `probe` answers a value, or fails the step with `what` and `hint` at the deadline. */
export const pollUntil = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, hint: string): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 50; ; wait = Math.min(wait * 2, 500)) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new StepFailed(`Timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`, hint);
    await delay(wait);
  }
};
