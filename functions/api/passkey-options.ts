import { apiHandler, type RouteHandler } from '../http/api-route.ts';
import { passkeyRegistration } from './passkey-registration-context.ts';

/** No token: the link's secret is the credential, and it is bound to one person. */
export const passkeyOptions: RouteHandler<'POST /passkeys/{token}/options'> = ({ params }) => passkeyRegistration.options(params.token);

export const handler = apiHandler('POST /passkeys/{token}/options', passkeyOptions);
