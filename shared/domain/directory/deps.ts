import type { Clock } from '#shared/ports/clock.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import type { Ids } from '#shared/ports/ids.ts';
import type { Act } from '../access/act.ts';

export type DirectoryDeps = { directory: DirectoryStore; act: Act; clock: Clock; ids: Ids };
