/**
 * Several key changes, step 2: sign and verify. Standard repositories: the metadata the changed
 * roles sign is re-signed first (a missing key is refused before anything is signed); then the
 * root(s), verified as a device would against the current root (on the way to a Factory, the rules
 * only the Foundries API holds too). Factory targets-key rotation: the production tags and waves
 * the old offline targets key signed get the new key's signature (read from the Factory only).
 */
import type { Progress } from '../ceremony.js';
import { oldOfflineTargetsKey, resignProductionTargets } from '../change-factory.js';
import { AppError } from '../errors.js';
import { heldKeysForRole } from '../keyring.js';
import { LocalRepoBackend } from '../backends/local-repo.js';
import { metadataToResign, signChangePlan } from '../tuf/changes.js';
import type { JsonObject } from '../tuf/json.js';
import { keyIdFor } from '../tuf/public-key.js';
import { parseRoot } from '../tuf/metadata.js';
import type { Root, RootDocument, Signer, VerifyReport } from '../tuf/model.js';
import { resignRepoMetadata } from '../tuf/repo-metadata.js';
import type { MetadataFile } from '../tuf/repo-metadata.js';
import { verifyRootUpdate } from '../tuf/verify.js';
import type { PreparedChanges } from './prepare.js';

/** Factory production tags and waves signed by the new offline targets key (E15/E16 bodies). */
export interface FactoryTargetsSignatures {
  targetsSignatures?: JsonObject;
  wavesSignatures?: JsonObject;
  tags: string[];
  waves: string[];
}

export interface SignedChanges {
  root: RootDocument;
  prod?: RootDocument;
  /** The new CI root, parsed. */
  parsed: Root;
  signedBy: string[];
  report: VerifyReport;
  /** Standard repositories: targets/snapshot/timestamp re-signed, in publishing order. */
  metadata: MetadataFile[];
  factoryTargets?: FactoryTargetsSignatures;
  /** Facts for the operator (fioctl's one-active-key-per-file rule). */
  notes: string[];
}

/**
 * Signs everything the changes need and verifies the new root. A root that fails the client rules
 * comes back with `report.ok` false (the caller refuses it); the Factory targets are signed only
 * for a root that passes.
 */
export async function signChanges(prep: PreparedChanges, progress: Progress = () => {}, o: { archiveName?: string; metadata?: MetadataFile[] } = {}): Promise<SignedChanges> {
  const { plan, signers, backend } = prep;
  const t = prep.opts.now;
  let metadata: MetadataFile[] = [];
  if (o.metadata !== undefined) metadata = o.metadata; // re-signed at plan (the page shows them before Sign)
  else if (plan.dialect === 'spec' && metadataToResign(plan).length > 0) {
    if (!(backend instanceof LocalRepoBackend)) {
      throw new AppError('CHANGE_REFUSED', 'Changing targets, snapshot or timestamp keys re-signs the repository metadata; give the repository with --repo DIR.', 'Choose the repository folder as the target, not a root file alone.');
    }
    progress('resign', `Re-signing ${metadataToResign(plan).map((r) => `${r}.json`).join(', ')}`);
    metadata = await resignRepoMetadata({ newRoot: plan.newSigned, current: await backend.readRepoDocs(), roles: metadataToResign(plan), signers, now: t });
  }
  progress('sign', 'Signing the new root');
  const signed = await signChangePlan(plan, signers);
  progress('verify', 'Verifying the new root as a client would');
  const parsed = parseRoot(signed.root as unknown as JsonObject, 'the new root');
  const report = verifyRootUpdate(prep.current, parsed, { now: t, factory: prep.factory });
  let factoryTargets: FactoryTargetsSignatures | undefined;
  const newTargets = plan.newKeys.find((k) => k.role === 'targets' && k.via === 'rotate-key');
  if (report.ok && prep.client !== undefined && newTargets !== undefined) {
    progress('resign', 'Signing the production and wave targets with the new targets key');
    const old = oldOfflineTargetsKey(prep.current, prep.currentOnlineTargets, prep.ring);
    factoryTargets = await resignProductionTargets(prep.client, old, { keyid: newTargets.keyid, signer: signers.get(newTargets.keyid) as Signer });
  }
  return {
    root: signed.root,
    ...(signed.prod !== undefined ? { prod: signed.prod } : {}),
    parsed,
    signedBy: signed.signedBy,
    report,
    metadata,
    ...(factoryTargets !== undefined ? { factoryTargets } : {}),
    notes: archiveNotes(prep, parsed, o.archiveName ?? 'The new archive'),
  };
}

/** fioctl keeps one active key of a role per archive file ("It is not allowed to store more than one active private key per file"). */
function archiveNotes(prep: PreparedChanges, newRoot: Root, archiveName: string): string[] {
  const notes: string[] = [];
  if (prep.plan.dialect !== 'foundries') return notes;
  for (const role of ['root', 'targets'] as const) {
    const held = [...heldKeysForRole(prep.ring, newRoot, role).keys()];
    const made = prep.generated.filter((g) => g.role === role && newRoot.roles[role]?.keyids.includes(keyIdFor('foundries', g.key.publicKey))).length;
    if (held.length + made > 1) {
      notes.push(
        `${archiveName} will hold ${held.length + made} active ${role} keys; fioctl refuses such a file. ` +
          'Give each holder their own key pair (copy it out of the archive into theirs) and keep one active key of a role per file.',
      );
    }
  }
  return notes;
}
