import { checkEvidence, EvidenceRefused, type EvidenceVerdict } from '#shared/domain/evidence/check-evidence.ts';
import type { DeploymentEvidence } from '#shared/protocol/deployment-evidence.ts';
import { fromB64 } from '#shared/protocol/trust.ts';
import { RequestRefused, type HandlerContext } from './types.ts';

/**
 * The evidence check (shared/domain/evidence/check-evidence.ts) as a key server and a target run
 * it: against the owner key pinned at init and the statement versions pinned so far; a refusal
 * is logged for audit and answered with its code, naming what was missing; the statements of
 * accepted evidence are pinned before anything else happens.
 */
export const checkDeploymentEvidence = async (
  request: { requestId: string; deploymentId: string; appId: string; releaseId: string; environmentId: string; manifest: string; evidence: DeploymentEvidence },
  context: HandlerContext,
  options: { encrypted: boolean; now: number },
): Promise<EvidenceVerdict> => {
  const { self, log } = context;
  let verdict: EvidenceVerdict;
  try {
    verdict = await checkEvidence({
      ownerKey: self.ownerKey,
      evidence: request.evidence,
      expect: { accountId: self.accountId, deploymentId: request.deploymentId, appId: request.appId, releaseId: request.releaseId, environmentId: request.environmentId, manifest: fromB64(request.manifest), encrypted: options.encrypted },
      pins: self.statements.all(),
      now: options.now,
    });
  } catch (error) {
    if (!(error instanceof EvidenceRefused)) throw error;
    log.warn('audit: deployment refused, its evidence is incomplete', { requestId: request.requestId, deploymentId: request.deploymentId, code: error.code });
    throw new RequestRefused(error.code, `${error.message}; nothing was done`);
  }
  self.statements.see(verdict.statements);
  self.statements.remember(verdict.passkeyPins);
  await self.statements.flush();
  return verdict;
};
