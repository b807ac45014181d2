/**
 * The page's preview of several key changes (POST /api/changes/preview): the plan, the diff and who
 * must sign, computed with throwaway keys (their IDs differ from the run's). Nothing is written or
 * sent; the run itself is `tuf-rotate change` (the reply carries its command line).
 */
import { changeArgs, materializeChanges } from './change-keys.js';
import type { AskedChange } from './change-keys.js';
import { AppError } from './errors.js';
import { heldKeysForRole } from './keyring.js';
import type { KeyRing } from './keyring.js';
import { planChanges, signatureNeeds, TOP_LEVEL_ROLES, unmetRules } from './tuf/changes.js';
import type { SignatureRule } from './tuf/changes.js';
import { diffRoots } from './tuf/diff.js';
import type { RootDiff } from './tuf/diff.js';
import { keyIdFor } from './tuf/public-key.js';
import type { KeyAlgorithm, Root } from './tuf/model.js';

export interface ChangesPreview {
  dialect: Root['dialect'];
  currentVersion: number;
  newVersion: number;
  summary: string[];
  newKeys: { role: string; keyid: string }[];
  removedKeyIds: string[];
  signatures: SignatureRule[];
  missing: SignatureRule[];
  /** Standard repositories: metadata re-signed after the root. Factories: what the CLI cannot do yet. */
  notes: string[];
  command: string;
  diff: RootDiff;
}

export async function previewChanges(current: Root, ring: KeyRing | undefined, asked: AskedChange[], keyType: KeyAlgorithm, now: Date): Promise<ChangesPreview> {
  const { changes, generated } = await materializeChanges(asked, current.dialect, keyType, () => {
    throw new AppError('BAD_REQUEST', 'The page adds keys it generates; a public key file is for the command line.', 'Use `tuf-rotate change … --add-key ROLE --key-file PUB.pem`.');
  });
  const held = new Set<string>();
  if (ring) for (const role of TOP_LEVEL_ROLES) for (const id of heldKeysForRole(ring, current, role).keys()) held.add(id);
  const plan = planChanges(current, changes, { now, heldKeyIds: [...held] });
  const available = [...held, ...generated.map((g) => keyIdFor(current.dialect, g.key.publicKey))];
  const signatures = signatureNeeds(plan, available);
  const notes: string[] = [];
  if (current.dialect === 'foundries') {
    if (asked.some((a) => a.kind === 'rotate-key' && a.role === 'targets')) notes.push('The production tags and active waves the old offline targets key signed are signed with the new key too; --keys must include the targets key archive.');
    if (asked.some((a) => a.kind === 'rotate-online-keys')) notes.push('The Factory generates the new online keys inside the transaction (refused while a wave is active).');
  } else {
    const resign = signatures.filter((r) => r.document !== 'root').map((r) => `${r.document}.json`);
    if (resign.length > 0) notes.push(`After the root, ${resign.join(', ')} are re-signed; --keys must include their keys (the practice repository's online-keys folder).`);
  }
  const args = ['tuf-rotate', 'change', '<TARGET>', '--keys', '<ARCHIVE.tgz>', ...(generated.length > 0 ? ['--out', '<NEW.tgz>'] : []), ...changeArgs(asked), ...(keyType !== 'ed25519' ? ['--new-key-type', keyType] : [])];
  return {
    dialect: current.dialect,
    currentVersion: current.version,
    newVersion: typeof plan.newSigned.version === 'number' ? plan.newSigned.version : current.version + 1,
    summary: plan.summary,
    newKeys: plan.newKeys.map((k) => ({ role: k.role, keyid: k.keyid })),
    removedKeyIds: plan.removedKeyIds,
    signatures,
    missing: unmetRules(signatures),
    notes,
    command: args.map((a) => (/^[\w<>.,=/-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' '),
    diff: diffRoots(current, plan.newSigned, { now, heldKeyIds: [...held] }),
  };
}
