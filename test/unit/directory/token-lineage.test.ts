import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Actor } from '#shared/domain/access/actor.ts';
import type { Act } from '#shared/domain/access/act.ts';
import type { ApiToken } from '#shared/domain/accounts/model.ts';
import { UnauthenticatedError } from '#shared/domain/errors.ts';
import { childExpiry } from '#shared/domain/directory/token-lineage.ts';
import { makeTokens } from '#shared/domain/directory/tokens.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import { randomIds } from '#shared/ports/ids.ts';
import { inMemoryDirectory } from '../../support/in-memory-directory.ts';

const accountId = `acc_${'1'.repeat(32)}`;
const userId = `usr_${'2'.repeat(32)}`;
const T0 = Date.parse('2026-12-01T00:00:00.000Z');
const DAY = 86_400_000;

/** The token use cases over an in-memory directory, a clock the test moves, and no policy or audit. */
const world = (hooks: { beforePut?: (token: ApiToken) => Promise<void>; afterPut?: (token: ApiToken) => Promise<void> } = {}) => {
  const directory = inMemoryDirectory();
  const store = {
    ...directory.store,
    putToken: async (token: ApiToken) => {
      await hooks.beforePut?.(token);
      await directory.store.putToken(token);
      await hooks.afterPut?.(token);
    },
  } as unknown as DirectoryStore;
  let now = T0;
  const act = (async (_actor: Actor, _action: string, _options: unknown, run: () => Promise<unknown>) => run()) as Act;
  const tokens = makeTokens({ directory: store, act, clock: { now: () => new Date(now) }, ids: randomIds });
  /** A root token (a person's first), as users.create mints it. */
  const root = async (days: number) => {
    const token: ApiToken = { accountId, userId, tokenId: randomIds.next('tok'), secretHash: randomIds.next('tok'), label: 'root', createdAt: new Date(now).toISOString(), expiresAt: new Date(now + days * DAY).toISOString() };
    await directory.store.putToken(token);
    return token;
  };
  const actorFor = (token: ApiToken): Actor => ({ accountId, userId, role: 'deployer', tokenId: token.tokenId, tokenSecretHash: token.secretHash });
  /** A token made with `parent`, as POST /tokens makes it. */
  const makeWith = async (parent: ApiToken, days: number) => {
    const created = await tokens.create(actorFor(parent), { label: 'child', expiresInDays: days });
    return [...directory.tokens.values()].find((t) => t.tokenId === created.tokenId)!;
  };
  const all = () => [...directory.tokens.values()];
  const byId = (tokenId: string) => all().find((t) => t.tokenId === tokenId)!;
  return { tokens, root, makeWith, all, byId, actorFor, advance: (ms: number) => (now += ms) };
};

/** The ids of `tokenId` and everything made with it, from the stored parent links. */
const lineageOf = (all: ApiToken[], tokenId: string): Set<string> => {
  const out = new Set([tokenId]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const t of all) {
      if (t.parentTokenId && out.has(t.parentTokenId) && !out.has(t.tokenId)) {
        out.add(t.tokenId);
        grew = true;
      }
    }
  }
  return out;
};

type Step = { kind: 'make'; parent: number; days: number; after: number } | { kind: 'revoke'; token: number };
const steps = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('make' as const), parent: fc.nat(), days: fc.integer({ min: 1, max: 365 }), after: fc.integer({ min: 0, max: 30 * DAY }) }),
    fc.record({ kind: fc.constant('revoke' as const), token: fc.nat() }),
  ),
  { minLength: 1, maxLength: 25 },
);

describe('token lineage', () => {
  it('childExpiry is the sooner of what was asked and the parent’s expiry', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 400 * DAY }), fc.integer({ min: 1, max: 365 }), (parentLeft, days) => {
        const now = new Date(T0);
        const parentExpiresAt = new Date(T0 + parentLeft).toISOString();
        const expiry = childExpiry(now, days, parentExpiresAt);
        expect(expiry <= parentExpiresAt).toBe(true);
        expect(Date.parse(expiry)).toBe(Math.min(T0 + days * DAY, T0 + parentLeft));
      }),
    );
  });

  it('over any history of making and revoking: no token outlives an ancestor, and a revocation takes exactly the revoked token’s lineage', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 365 }), steps, async (rootDays, history: Step[]) => {
        // Prepare: one root token.
        const w = world();
        const made = [await w.root(rootDays)];
        const revokedRoots: string[] = [];

        // Act: make tokens with live ones (a revoked or expired one cannot authenticate), revoke any.
        for (const step of history) {
          if (step.kind === 'make') {
            const now = w.advance(step.after);
            const parent = w.byId(made[step.parent % made.length]!.tokenId);
            if (parent.revokedAt || Date.parse(parent.expiresAt) <= now) continue;
            made.push(await w.makeWith(parent, step.days));
          } else {
            const target = made[step.token % made.length]!;
            await w.tokens.revoke(w.actorFor(made[0]!), target.tokenId);
            revokedRoots.push(target.tokenId);
          }
        }

        // Assess
        const all = w.all();
        for (const token of all) {
          for (let parent = token.parentTokenId && w.byId(token.parentTokenId); parent; parent = parent.parentTokenId && w.byId(parent.parentTokenId)) {
            expect(token.expiresAt <= parent.expiresAt).toBe(true);
          }
        }
        const shouldBeRevoked = new Set(revokedRoots.flatMap((id) => [...lineageOf(all, id)]));
        for (const token of all) expect(Boolean(token.revokedAt), token.tokenId).toBe(shouldBeRevoked.has(token.tokenId));
      }),
      { numRuns: 60 },
    );
  });

  it('revoking answers the tokens made with it, transitively', async () => {
    const w = world();
    const root = await w.root(90);
    const child = await w.makeWith(root, 30);
    const grandchild = await w.makeWith(child, 30);
    const sibling = await w.makeWith(root, 10);
    const revoked = await w.tokens.revoke(w.actorFor(root), child.tokenId);
    expect(revoked.alsoRevoked).toEqual([grandchild.tokenId]);
    expect(w.byId(sibling.tokenId).revokedAt).toBeUndefined();
    expect(w.byId(root.tokenId).revokedAt).toBeUndefined();
  });

  it('a token made while its parent is being revoked is revoked too, whichever write comes first', async () => {
    for (const moment of ['beforePut', 'afterPut'] as const) {
      // Prepare: the revocation of the parent runs exactly as the child is being written.
      const holder: { parent?: ApiToken } = {};
      let revoking: Promise<unknown> | undefined;
      const w = world({
        [moment]: async (token: ApiToken) => {
          if (token.parentTokenId && holder.parent && !revoking) revoking = w.tokens.revoke(w.actorFor(holder.parent), holder.parent.tokenId);
          await revoking;
        },
      });
      const parent = (holder.parent = await w.root(90));

      // Act
      const made = await w.tokens.create(w.actorFor(parent), { label: 'racing', expiresInDays: 30 }).catch((error: unknown) => error);
      await revoking;

      // Assess: refused, or listed by the revocation; revoked either way.
      const child = w.all().find((t) => t.parentTokenId === parent.tokenId)!;
      expect(child.revokedAt, moment).toBeDefined();
      if (moment === 'afterPut') expect(made).toBeInstanceOf(UnauthenticatedError);
    }
  });

  it('a token is made only with an API token, never without the token asking', async () => {
    const w = world();
    const root = await w.root(90);
    const { tokenSecretHash: _hash, ...withoutHash } = w.actorFor(root);
    await expect(w.tokens.create(withoutHash, { label: 'x', expiresInDays: 1 })).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it('revokeAllOf revokes every token of the person and answers their ids', async () => {
    const w = world();
    const a = await w.root(90);
    const b = await w.makeWith(a, 10);
    const c = await w.root(5);
    expect(await w.tokens.revokeAllOf(accountId, userId, new Date(T0).toISOString())).toEqual([a.tokenId, b.tokenId, c.tokenId].sort());
    expect(w.all().every((t) => t.revokedAt)).toBe(true);
  });
});
