/**
 * The session's recovery side: what the work folder's reconciled ceremony means for the page (its
 * state, the valid archive, the actions it allows), and the backend to reach a ceremony's target.
 */
import type { RecoveryInfo, TargetInfo } from '../../shared/api.js';
import type { Backend } from '../backends/backend.js';
import type { Ceremony } from '../ceremony/ceremony.js';
import { backendFromRef, refOf, sameTarget } from '../ceremony/reconcile.js';
import type { Reconciled } from '../ceremony/reconcile.js';
import type { Progress } from '../ceremony.js';
import { publishSavedChanges } from '../ceremony/change-steps.js';
import { publishSaved } from '../ceremony/steps.js';
import { AppError } from '../errors.js';
import type { Root, VerifyReport } from '../tuf/model.js';

/** What the reconciled ceremony means, for the page. */
export function recoveryInfo(opened: { ceremony: Ceremony; reconciled: Reconciled } | undefined, workDir: string): RecoveryInfo {
  if (!opened) return { state: 'none', message: `There is no ceremony in the work folder ${workDir} yet.`, actions: ['new-ceremony'] };
  const r = opened.reconciled;
  const actions: NonNullable<RecoveryInfo['actions']> = [];
  const factory = r.target.kind === 'factory' || r.target.kind === 'practice';
  // A change run records everything it publishes (roots, metadata, Factory targets signatures): its saved run can be finished on any target.
  const changes = opened.ceremony.data.run === 'changes';
  if (r.state === 'keys-saved' && (!factory || changes)) actions.push('publish-saved');
  if (factory && r.state === 'partly-applied') actions.push('re-apply');
  // A standard repository's root is published but its re-signed metadata is not (interrupted in between): write it.
  if (r.state === 'published' && r.pendingMetadata !== undefined) actions.push('finish-metadata');
  if (factory && r.reachable && ((r.state === 'staged' || r.state === 'signed' || r.state === 'keys-saved') || r.otherTransaction?.status === 'STARTED')) actions.push('cancel');
  if (r.state !== 'partly-applied' && r.pendingMetadata === undefined) actions.push('new-ceremony');
  return {
    state: r.state,
    message: r.message,
    ceremony: r.id,
    target: r.target as TargetInfo,
    ...(r.validArchive !== null ? { validArchive: r.validArchive } : {}),
    ...(r.validArchiveSha256 !== undefined ? { validArchiveSha256: r.validArchiveSha256 } : {}),
    ...(r.newArchive ? { newArchive: r.newArchive.path, newArchiveSha256: r.newArchive.sha256 } : {}),
    ...(r.version !== undefined ? { version: r.version } : {}),
    ...(r.newVersion !== undefined ? { newVersion: r.newVersion } : {}),
    ...(r.txid !== undefined ? { txid: r.txid } : {}),
    reachable: r.reachable,
    actions,
  };
}

/** The backend of the ceremony's target: the server's target when it is the same one, else one made from the ceremony. */
export async function backendOfCeremony(target: Backend | undefined, c: Ceremony, env: NodeJS.ProcessEnv | undefined): Promise<Backend> {
  const ref = target ? refOf(target) : undefined;
  const same = ref !== undefined && (sameTarget(ref, c.data.target.ref) || (ref.kind === 'practice' && c.data.target.ref.kind === 'practice' && ref.factory === c.data.target.ref.factory));
  const backend = target && same ? target : await backendFromRef(c.data.target.ref, env ? { env } : {});
  if (!backend) throw new AppError('TARGET_NOT_CONFIGURED', `Cannot reach ${c.data.target.description} from this server.`, `Choose ${c.data.target.description} as the target, then try again.`);
  return backend;
}

/**
 * Publishes the ceremony's saved run (the page's publish and its recovery publish): the saved root
 * of a rotation, or everything a change run recorded at sign (roots, re-signed metadata, Factory
 * targets signatures). It reads the ceremony, not the process's memory.
 */
export async function publishCeremonyRun(c: Ceremony, backend: Backend, now: Date, progress: Progress, live: boolean): Promise<{ location: string; readBack: Root; report: VerifyReport; published?: string[] }> {
  if (c.data.run === 'changes') return publishSavedChanges(c, backend, now, progress);
  return publishSaved(c, backend, now, progress, live);
}
