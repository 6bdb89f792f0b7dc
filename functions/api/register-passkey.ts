import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { passkeyRegistration } from './passkey-registration-context.ts';

/** No token: the link's secret is the credential; it registers one passkey, once. */
export const registerPasskey: RouteHandler<'POST /passkeys/{token}'> = ({ params, body }) => passkeyRegistration.register(params.token, body);

export const handler = apiHandler('POST /passkeys/{token}', registerPasskey);
