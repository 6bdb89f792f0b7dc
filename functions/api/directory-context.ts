import { makeAct } from '#shared/domain/access/act.ts';
import { makeAuthenticate } from '#shared/domain/access/authenticate.ts';
import { makeAuditTrail } from '#shared/domain/audit/audit-trail.ts';
import { makeApps } from '#shared/domain/directory/apps.ts';
import { makeEnrolments } from '#shared/domain/agents/enrolments.ts';
import { makeOwnerKeys } from '#shared/domain/agents/owner-keys.ts';
import { makeEnvironments } from '#shared/domain/directory/environments.ts';
import { makeGroups } from '#shared/domain/directory/groups.ts';
import { makeTokens } from '#shared/domain/directory/tokens.ts';
import { makeUsers } from '#shared/domain/directory/users.ts';
import { makeStatements } from '#shared/domain/statements/statements.ts';
import { systemClock } from '#shared/ports/clock.ts';
import { randomIds } from '#shared/ports/ids.ts';
import { dynamo } from '../adapters/aws-clients.ts';
import { dynamoAgentStore } from '../adapters/dynamo-agent-store.ts';
import { dynamoAuditLog } from '../adapters/dynamo-audit-log.ts';
import { dynamoDirectoryStore } from '../adapters/dynamo-directory-store.ts';
import { dynamoStatementStore } from '../adapters/dynamo-statement-store.ts';
import { tableName } from '../config.ts';
import { lazyPort } from '../lazy-port.ts';

// The composition root of the directory routes, built once per cold start: adapters in,
// use cases out. Handlers import what they serve from here and stay a few lines long.
const directory = dynamoDirectoryStore(dynamo(), tableName('directory'));
const clock = systemClock;
export const audit = makeAuditTrail({ log: lazyPort(() => dynamoAuditLog(dynamo(), tableName('deployments'))), clock });
const deps = { directory, act: makeAct(audit), clock, ids: randomIds };

/** How recent a key server's heartbeat must be for it to count as online. */
const keyServerOnlineSeconds = Number(process.env.AGENT_ONLINE_SECONDS ?? 90);

export const authenticate = makeAuthenticate({ directory, clock });
export const users = makeUsers(deps);
export const tokens = makeTokens(deps);
export const groups = makeGroups(deps);
export const environments = makeEnvironments(deps);
export const apps = makeApps({ ...deps, keyServerOnlineSeconds });
export const agentStore = dynamoAgentStore(dynamo(), tableName('directory'));
export const enrolments = makeEnrolments({ ...deps, agents: agentStore });
export const ownerKeys = makeOwnerKeys(deps);
export const statementStore = dynamoStatementStore(dynamo(), tableName('directory'));
export const statements = makeStatements({ directory, agents: agentStore, statements: statementStore, act: deps.act, clock });
export const act = deps.act;
