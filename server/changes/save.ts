/**
 * Several key changes, step 3 (invariant 1): one archive with the input archive's entries and
 * every generated key, written atomically with mode 0600, read back and proven key by key, before
 * anything is published.
 */
import { KEYS_DIR, archivePrefix } from '../archive/layout.js';
import { readBackAndProve, writeKeyArchive } from '../archive/write.js';
import type { ArchiveAddition } from '../archive/write.js';
import type { Progress, SavedArchive } from '../ceremony.js';
import type { GeneratedKey } from '../change-keys.js';
import { emptyArchive } from '../keyring.js';
import type { KeyRing } from '../keyring.js';
import type { ChangePlan } from '../tuf/changes.js';
import { archivePairFilesFor } from '../tuf/archive-keys.js';
import { keyIdFor } from '../tuf/public-key.js';
import type { PublicKeyInfo } from '../tuf/model.js';

export async function saveChangeKeys(
  o: { ring: KeyRing; generated: GeneratedKey[]; plan: ChangePlan },
  outPath: string,
  opts: { overwrite?: boolean } = {},
  progress: Progress = () => {},
): Promise<SavedArchive & { keyIds: string[] }> {
  const archive = o.ring.archive ?? emptyArchive();
  const prefix = archivePrefix(archive.entries.map((e) => e.name));
  const additions: ArchiveAddition[] = [];
  const proofs: { keyid: string; publicKey: PublicKeyInfo; base: string }[] = [];
  for (const g of o.generated) {
    const entry = o.plan.newKeys.find((k) => k.keyid === keyIdFor(o.plan.dialect, g.key.publicKey));
    if (entry === undefined) continue;
    const base = `${prefix}${KEYS_DIR}fioctl-${g.role}-${entry.keyid}`;
    const files = archivePairFilesFor(o.plan.dialect, g.key, entry.keyJson);
    additions.push({ name: `${base}.pub`, data: files.pub }, { name: `${base}.sec`, data: files.sec });
    proofs.push({ keyid: entry.keyid, publicKey: g.key.publicKey, base });
  }
  progress('save', `Writing the new key archive to ${outPath}`);
  const written = await writeKeyArchive(outPath, archive, additions, { overwrite: opts.overwrite ?? false, backup: true });
  progress('readback', 'Reading the archive back and proving every new key');
  for (const p of proofs) await readBackAndProve(written.path, written.sha256, p);
  return {
    path: written.path,
    sha256: written.sha256,
    bytes: written.bytes,
    newKeyBase: proofs[0]?.base ?? '',
    keyIds: proofs.map((p) => p.keyid),
    ...(written.backupPath === undefined ? {} : { backupPath: written.backupPath }),
  };
}
