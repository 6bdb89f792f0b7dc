import { inject } from 'vitest';
import { hashPasskeyLinkSecret } from '#shared/domain/passkeys/links.ts';
import { webOriginOf } from '#shared/protocol/passkeys.ts';
import { emailsTo } from './approval-mail.ts';
import { waitFor } from './clients.ts';
import { api, type ApiResponse } from './http.ts';
import type { SoftAuthenticator } from './soft-authenticator.ts';

const LINK = /(https?:\/\/[^\s"<>]+\/passkeys\/(lkp_[A-Za-z0-9_-]{43}))/;

/** The passkey registration link in an email's text part. */
export const passkeyLinkIn = (text: string | undefined): { url: string; secret: string; secretHash: string } => {
  const match = LINK.exec(text ?? '');
  if (!match) throw new Error(`No passkey link in: ${text}`);
  return { url: match[1]!, secret: match[2]!, secretHash: hashPasskeyLinkSecret(match[2]!) };
};

/** The passkey link mailed to `address`: the only one, or the one with `url` (a person may get several). */
export const passkeyLinkFor = async (address: string, url?: string) =>
  waitFor(`a passkey link mailed to ${address}`, async () => {
    const links = (await emailsTo(address)).filter((mail) => mail.subject === 'Register a passkey for Latchkey approvals').map((mail) => passkeyLinkIn(mail.body.text));
    if (url) return links.find((link) => link.url === url);
    if (links.length > 1) throw new Error(`${address} has ${links.length} passkey links: say which`);
    return links[0];
  }, 15_000);

/** Where the local API's pages are, as WebAuthn sees them (localhost, not 127.0.0.1). */
export const localWebOrigin = () => webOriginOf(inject('endpoints').api);

/** Registration through the link's JSON routes, as the page's script does it, with a software authenticator. */
export const registerThrough = async (
  secret: string,
  authenticator: SoftAuthenticator,
  options: { label?: string; tamper?: (response: ReturnType<SoftAuthenticator['register']>) => unknown } = {},
): Promise<{ options: ApiResponse; registered: ApiResponse }> => {
  const asked = await api('POST', `/passkeys/${secret}/options`);
  if (asked.status !== 200) return { options: asked, registered: asked };
  const response = authenticator.register({ challenge: asked.body.challenge, ...localWebOrigin() });
  const registered = await api('POST', `/passkeys/${secret}`, { json: { response: options.tamper ? options.tamper(response) : response, ...(options.label ? { label: options.label } : {}) } });
  return { options: asked, registered };
};
