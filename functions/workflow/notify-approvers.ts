import { approvalNotices } from '../deployments-context.ts';
import { deploymentRef } from './deployment-ref.ts';
import { workflowTask } from './workflow-task.ts';

const notices = approvalNotices();

export const handler = workflowTask(deploymentRef, ({ accountId, deploymentId }) => notices.notify(accountId, deploymentId));
