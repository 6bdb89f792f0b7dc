import { makePasskeyRegistration } from '#shared/domain/passkeys/registration.ts';
import { systemClock } from '#shared/ports/clock.ts';
import { webOriginOf } from '#shared/protocol/passkeys.ts';
import { publicApiUrl } from '../config.ts';
import { audit, directory, passkeyStore } from './passkeys-context.ts';

// The registration use cases (options, register): the only functions that load @simplewebauthn/server.
export const passkeyRegistration = makePasskeyRegistration({
  store: passkeyStore,
  directory,
  audit,
  clock: systemClock,
  webOrigin: () => webOriginOf(publicApiUrl()),
});
