import type { PasskeyLink, PasskeyRegistrationStore } from '#shared/ports/passkey-registrations.ts';

/** The passkey registration store in memory, with the DynamoDB adapter's conditions (functions/adapters/dynamo-passkey-registrations.ts). */
export const memoryPasskeyRegistrations = () => {
  const links = new Map<string, PasskeyLink>();
  const store: PasskeyRegistrationStore = {
    putLink: async (link) => {
      if (links.has(link.secretHash)) throw new Error('ConditionalCheckFailed');
      links.set(link.secretHash, structuredClone(link));
    },
    getLink: async (secretHash) => structuredClone(links.get(secretHash)),
    setChallenge: async (secretHash, challenge, at) => {
      const link = links.get(secretHash);
      if (!link || link.usedAt || !(link.expiresAt > at)) return false;
      links.set(secretHash, { ...link, challenge, challengedAt: at });
      return true;
    },
    register: async (secretHash, challenge, credential) => {
      const link = links.get(secretHash);
      if (!link || link.usedAt || !(link.expiresAt > credential.registeredAt) || link.challenge !== challenge) return false;
      if (link.accountId !== credential.accountId || link.userId !== credential.userId) return false;
      links.set(secretHash, { ...link, usedAt: credential.registeredAt, credential: structuredClone(credential) });
      return true;
    },
    credentialsOf: async (accountId, userId) =>
      [...links.values()]
        .flatMap((link) => (link.credential && link.accountId === accountId && link.userId === userId ? [structuredClone(link.credential)] : []))
        .sort((a, b) => a.registeredAt.localeCompare(b.registeredAt)),
  };
  return Object.assign(store, { links });
};
