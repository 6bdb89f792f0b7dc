import { makeAct } from '#shared/domain/access/act.ts';
import { makeAuditTrail } from '#shared/domain/audit/audit-trail.ts';
import { makePasskeyLinks } from '#shared/domain/passkeys/passkey-links.ts';
import { systemClock } from '#shared/ports/clock.ts';
import { dynamo, ses } from '../adapters/aws-clients.ts';
import { dynamoAuditLog } from '../adapters/dynamo-audit-log.ts';
import { dynamoDirectoryStore } from '../adapters/dynamo-directory-store.ts';
import { dynamoPasskeyRegistrations } from '../adapters/dynamo-passkey-registrations.ts';
import { sesMailer } from '../adapters/ses-mailer.ts';
import { mailFrom, publicApiUrl, tableName } from '../config.ts';
import { lazyPort } from '../lazy-port.ts';

// The composition root of passkey registration: the owner's links, the page, and (in
// passkey-registration-context.ts, which alone loads the WebAuthn library) the registration itself.
// Ports a function is not bound to are built on first use, so the page never needs the audit
// table nor mail.
const clock = systemClock;
export const directory = lazyPort(() => dynamoDirectoryStore(dynamo(), tableName('directory')));
export const passkeyStore = lazyPort(() => dynamoPasskeyRegistrations(dynamo(), tableName('directory')));
export const audit = makeAuditTrail({ log: lazyPort(() => dynamoAuditLog(dynamo(), tableName('deployments'))), clock });

export const passkeyLinks = makePasskeyLinks({
  store: passkeyStore,
  directory,
  act: makeAct(audit),
  mailer: lazyPort(() => sesMailer(ses(), mailFrom())),
  clock,
  publicUrl: publicApiUrl,
});
