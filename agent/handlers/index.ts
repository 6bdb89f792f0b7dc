import { keyServerHandlers } from './key-server.ts';
import type { HandlerSet } from './types.ts';

/**
 * Requests each role answers. The target role lands later as `targetHandlers` in
 * handlers/target.ts; until then a target agent refuses to run rather than ignore its queue.
 */
export const handlersFor = (role: 'keyserver' | 'target'): HandlerSet | undefined => (role === 'keyserver' ? keyServerHandlers : undefined);
