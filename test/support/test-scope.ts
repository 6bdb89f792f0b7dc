import { AsyncLocalStorage } from 'node:async_hooks';
import { onTestFinished, type TestContext } from 'vitest';

type Scope = Pick<TestContext, 'onTestFinished'>;

const scope = new AsyncLocalStorage<Scope>();

/**
 * Runs `fn` as test `context`'s own: what the support helpers clean up (whenTestEnds) goes to
 * that test. For `it.concurrent`, where vitest's global `onTestFinished` registers on whichever
 * test started last (it keeps one "current test"), so an agent could be killed with another test.
 */
export const inTest = <T>(context: Scope, fn: () => Promise<T>): Promise<T> => scope.run(context, fn);

/** `onTestFinished` for the test this code runs for: the one `inTest` names, else vitest's current test. */
export const whenTestEnds = (fn: () => unknown) => (scope.getStore()?.onTestFinished ?? onTestFinished)(async () => void (await fn()));
