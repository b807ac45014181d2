/**
 * The backup gate for keys that cannot be backed up. A file key is saved in the new archive (and
 * the archive can be copied); a key generated in a token exists only there. So a new root whose
 * root threshold can only be met with token keys is one lost or broken token away from a locked-out
 * repository. Such a root needs the operator's explicit acknowledgement, with a reason that is
 * written to the journal, the archive's token record and the ceremony output.
 */
import { AppError } from '../errors.js';
import { shortKeyId } from '../archive/layout.js';
import { isJsonObject } from '../tuf/json.js';
import type { RotationPlan } from '../tuf/rotate.js';

export interface BackupGateResult {
  /** Root keys of the new root that exist only in a token. */
  tokenOnly: string[];
  threshold: number;
  /** Root keys that have (or can have) a backup. */
  backedUp: string[];
  reachableWithoutTokens: boolean;
}

/** Whether the new root's root threshold is reachable without the token-only keys. */
export function backupGate(plan: RotationPlan, tokenKeyIds: readonly string[]): BackupGateResult {
  const roles = plan.newSigned['roles'];
  const root = isJsonObject(roles) ? roles['root'] : undefined;
  const keyids = isJsonObject(root) && Array.isArray(root['keyids']) ? root['keyids'].filter((k): k is string => typeof k === 'string') : [];
  const threshold = isJsonObject(root) && typeof root['threshold'] === 'number' ? root['threshold'] : 1;
  const tokenOnly = new Set(tokenKeyIds);
  const backedUp = [...new Set(keyids.filter((k) => !tokenOnly.has(k)))];
  return { tokenOnly: keyids.filter((k) => tokenOnly.has(k)), threshold, backedUp, reachableWithoutTokens: backedUp.length >= threshold };
}

/** Refuses (BACKUP_ACK_REQUIRED) when the gate is not passed and no reason was given. */
export function requireBackupOrAck(plan: RotationPlan, tokenKeyIds: readonly string[], ack: string | undefined): BackupGateResult {
  const gate = backupGate(plan, tokenKeyIds);
  if (gate.reachableWithoutTokens) return gate;
  if (ack !== undefined && ack.trim() !== '') return gate;
  throw new AppError(
    'BACKUP_ACK_REQUIRED',
    `The new root needs ${gate.threshold} of its root keys, and without the token key${gate.tokenOnly.length === 1 ? '' : 's'} (${gate.tokenOnly.map(shortKeyId).join(', ')}) only ${gate.backedUp.length} remain${gate.backedUp.length === 1 ? 's' : ''}: a key in a token cannot be backed up, so losing that token would lock the repository out. Nothing was generated or published`,
    'Add root keys that have a backup (a second token or a file key held by someone else) so the threshold is met without this token, or pass --ack-no-backup "REASON" to go ahead; the reason is written to the journal and the record.',
  );
}
