import { apiHandler } from '../http/api-route.ts';
import { approvalByLink } from './approval-links-context.ts';

/** POST /approvals/{token}/challenge: the approval statement and WebAuthn options for the page's passkey; changes nothing. */
export const handler = apiHandler('POST /approvals/{token}/challenge', async ({ params, body }) => approvalByLink.challenge(params.token, body));
