import { z } from 'zod';
import { accountId } from '#shared/protocol/common.ts';
import { deploymentId } from '#shared/protocol/deployments.ts';

export const deploymentRef = z.object({ accountId, deploymentId });
