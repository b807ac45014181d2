/**
 * The page's run of several key changes (POST /api/plan with `changes`): the same core as
 * `tuf-rotate change` (server/changes/) and the same ceremony records (ceremony/change-steps.ts),
 * step by step as jobs: plan (new keys, the target's transaction, the documents before and after),
 * sign (refused with the holders listed when the keys held cannot meet every threshold), save
 * (one archive with every new key, proven), publish (roots, re-signed metadata, targets signatures).
 */
import type { DocumentView, PlanResult, PlanSummary, SignResult } from '../../shared/api.js';
import type { Backend } from '../backends/backend.js';
import { FoundriesBackend } from '../backends/foundries.js';
import { LocalRepoBackend } from '../backends/local-repo.js';
import type { Progress, SavedArchive } from '../ceremony.js';
import type { Ceremony } from '../ceremony/ceremony.js';
import { changesRecord, recordChangesPlanned, recordChangesSaved, recordChangesSigned } from '../ceremony/change-steps.js';
import { startCeremony } from '../ceremony/steps.js';
import type { CeremonyStore } from '../ceremony/store.js';
import type { AskedChange } from '../change-keys.js';
import { draftChanges, prepareChanges } from '../changes/prepare.js';
import type { PreparedChanges } from '../changes/prepare.js';
import { saveChangeKeys } from '../changes/save.js';
import { signChanges } from '../changes/sign.js';
import type { SignedChanges } from '../changes/sign.js';
import { changesPlanView, documentViews } from '../changes/views.js';
import type { ChangesBefore } from '../changes/views.js';
import { AppError } from '../errors.js';
import { heldKeysForRole } from '../keyring.js';
import type { KeyRing } from '../keyring.js';
import { metadataToResign, unmetRules } from '../tuf/changes.js';
import type { SignatureRule } from '../tuf/changes.js';
import { diffRoots, shortKeyId } from '../tuf/diff.js';
import type { KeyAlgorithm } from '../tuf/model.js';
import { resignRepoMetadata } from '../tuf/repo-metadata.js';
import type { MetadataFile } from '../tuf/repo-metadata.js';
import type { Root, RootDocument, VerifyReport } from '../tuf/model.js';
import { namedOwnerWarnings, signedSha256 } from '../views.js';
import { userDirectoryOf } from '../backends/user-directory.js';
import type { StepRun } from './rotation.js';

export interface ChangePlanInput {
  asked: AskedChange[];
  keyType: KeyAlgorithm;
  changelog?: string;
  abandon?: string;
  allowExpired?: { reason: string };
  now: Date;
}

/** A change run of the page, from plan to save (publish reads the ceremony). */
export class ChangeRun implements StepRun {
  prep: PreparedChanges;
  before: ChangesBefore;
  /** Standard repositories: metadata re-signed at plan (shown before Sign; Sign reuses it). */
  metadata: MetadataFile[] | undefined;
  /** The transaction is begun and the ceremony records the plan (false when keys are missing: nothing begun). */
  begun: boolean;
  ceremony: Ceremony | undefined;
  plan: PlanResult;
  signed: SignedChanges | undefined;
  sign: SignResult | undefined;
  saved: SavedArchive | undefined;

  private constructor(o: { prep: PreparedChanges; before: ChangesBefore; metadata: MetadataFile[] | undefined; begun: boolean; ceremony: Ceremony | undefined; plan: PlanResult }) {
    this.prep = o.prep;
    this.before = o.before;
    this.metadata = o.metadata;
    this.begun = o.begun;
    this.ceremony = o.ceremony;
    this.plan = o.plan;
  }

  /** Root (and metadata) signatures the keys held cannot make. */
  get missing(): SignatureRule[] {
    return unmetRules(this.prep.rules);
  }

  /**
   * The plan job: new keys and the plan on the current root; when the keys held meet every
   * threshold, the ceremony starts (one at a time per work folder), the target's transaction is
   * begun and the plan is made on its staged base, recorded in the ceremony.
   */
  static async plan(
    backend: Backend,
    ring: KeyRing,
    inputSha256: string,
    store: CeremonyStore,
    input: ChangePlanInput,
    o: { who: string; now: () => Date; env?: NodeJS.ProcessEnv; onCeremony: (c: Ceremony) => void },
    progress: Progress,
  ): Promise<ChangeRun> {
    const opts = { keyType: input.keyType, now: input.now, ...(input.changelog !== undefined ? { changelog: input.changelog } : {}), ...(input.allowExpired !== undefined ? { allowExpired: input.allowExpired } : {}) };
    const draft = await draftChanges(backend, ring, input.asked, opts, progress);
    const factory = backend.kind === 'factory' || backend.kind === 'practice';
    let prep: PreparedChanges = { ...draft, factory, unstageable: false, ...(factory ? { client: (backend as FoundriesBackend).client } : {}) };
    let ceremony: Ceremony | undefined;
    let begun = false;
    if (draft.unmet.length === 0) {
      const inputKeys = { source: 'the uploaded key archive', sha256: inputSha256 };
      ceremony = await startCeremony(store, backend, {
        who: o.who,
        now: o.now,
        ...(o.env ? { env: o.env } : {}),
        changes: changesRecord(input.asked, input.keyType),
        current: draft.current,
        ...(input.abandon !== undefined ? { abandon: input.abandon } : {}),
        inputKeys: (current) => (heldKeysForRole(ring, current).size > 0 ? inputKeys : undefined),
      });
      o.onCeremony(ceremony);
      try {
        prep = await prepareChanges(draft, progress);
      } catch (e) {
        await ceremony.transition('cancelled', 'plan failed', { reason: e instanceof AppError ? e.message : 'the plan step failed; nothing was published' }).catch(() => undefined);
        throw e;
      }
      if (prep.unmet.length > 0) {
        // The staged base needs signatures the keys held cannot make: nothing stays open.
        await backend.abort();
        await ceremony.transition('cancelled', 'the keys held cannot meet every threshold', { reason: 'the keys held cannot meet every threshold; nothing was published' }).catch(() => undefined);
      } else {
        await recordChangesPlanned(ceremony, prep, { inputKeys });
        begun = true;
      }
    }
    try {
      progress('documents', 'Reading the documents the changes touch');
      const before = await readBefore(prep);
      let metadata: MetadataFile[] | undefined;
      if (prep.plan.dialect === 'spec' && before.repoDocs !== undefined && unmetRules(prep.rules).length === 0) {
        metadata = await resignRepoMetadata({ newRoot: prep.plan.newSigned, current: before.repoDocs, roles: metadataToResign(prep.plan), signers: prep.signers, now: input.now });
      }
      const users = await userDirectoryOf(backend); // a Factory's owners by name (tuf/owner-names.ts)
      const diff = diffRoots(prep.current, prep.plan.newSigned, { now: input.now, heldKeyIds: [...prep.signers.keys()], ...(users ? { users } : {}) });
      const summary = planSummary(prep);
      const plan: PlanResult = {
        plan: { ...summary, warnings: namedOwnerWarnings(summary.warnings, diff, users) },
        diff,
        changes: changesPlanView(prep, before, metadata, notesFor(prep)),
      };
      return new ChangeRun({ prep, before, metadata, begun, ceremony, plan });
    } catch (e) {
      // Nothing half-begun stays behind a failed plan: the transaction is cancelled, the ceremony too.
      if (begun) await backend.abort();
      if (ceremony && !['cancelled', 'published', 'superseded'].includes(ceremony.state)) {
        await ceremony.transition('cancelled', 'plan failed', { reason: e instanceof AppError ? e.message : 'the plan step failed; nothing was published' }).catch(() => undefined);
      }
      throw e;
    }
  }

  /** Refuses Sign (before any job) when signatures are missing, naming the holders, in words for a person in a browser. */
  assertSignable(): void {
    const missing = this.missing;
    if (missing.length > 0 || !this.begun) {
      const holders = [...new Set(missing.flatMap((r) => r.keys.filter((k) => !k.available).map((k) => k.owner ?? shortKeyId(k.keyid))))];
      throw new AppError(
        'SIGNATURES_NEEDED',
        `The keys you gave cannot make every signature these changes need: ${missing.map((r) => `${r.document === 'root' ? `root (${r.rule === 'old' ? 'current' : 'new'} threshold)` : `${r.document}.json`} ${r.available} of ${r.threshold}`).join('; ')}.`,
        `The holders of ${holders.join(', ') || 'the missing keys'} must sign: make a signing request for these changes and follow their signatures on the Requests page, or upload an archive that also holds their keys and plan again.`,
      );
    }
  }

  signedRoot(): { document: RootDocument; root: Root; report: VerifyReport } | undefined {
    return this.signed ? { document: this.signed.root, root: this.signed.parsed, report: this.signed.report } : undefined;
  }

  recordFacts(): { current: Root; newKeyId: string } {
    const p = this.prep.plan;
    return { current: this.prep.current, newKeyId: (p.newKeys.find((k) => k.role === 'root') ?? p.newKeys[0])?.keyid ?? '' };
  }

  async runSign(progress: Progress): Promise<SignResult> {
    const signed = await signChanges(this.prep, progress, { archiveName: 'The new archive', ...(this.metadata !== undefined ? { metadata: this.metadata } : {}) });
    if (this.ceremony && signed.report.ok) await recordChangesSigned(this.ceremony, this.prep, signed);
    this.signed = signed;
    const documents: DocumentView[] = documentViews(this.prep, this.before, { signed });
    this.sign = { version: signed.parsed.version, sha256: signedSha256(signed.parsed), verify: signed.report, documents };
    return this.sign;
  }

  /** Invariant 1: one archive with the uploaded archive's entries and every new key, proven before anything is published. */
  async runSave(out: string, o: { overwrite: boolean; copy: boolean; now: Date }, progress: Progress): Promise<SavedArchive> {
    const c = this.ceremony;
    if (!c) throw new AppError('SESSION_STATE', 'The changes are not recorded in a ceremony.', 'Plan the changes again.');
    const saved = await saveChangeKeys({ ring: this.prep.ring, generated: this.prep.generated, plan: this.prep.plan }, out, { overwrite: o.overwrite }, progress);
    progress('journal', 'Recording the saved archive in the ceremony');
    if (o.copy) await c.update('another copy of the new key archive saved and proven', {}, { path: saved.path, sha256: saved.sha256 });
    else await recordChangesSaved(c, saved, o.now);
    this.saved ??= saved;
    return saved;
  }
}

async function readBefore(prep: PreparedChanges): Promise<ChangesBefore> {
  const out: ChangesBefore = {};
  if (prep.client !== undefined) {
    const prod = await prep.client.currentRoot(true).catch(() => undefined);
    if (prod) out.currentProd = prod;
    if (prep.plan.newKeys.some((k) => k.role === 'targets' && k.via === 'rotate-key')) {
      out.prodTargets = await prep.client.prodTargets();
      out.waveTargets = await prep.client.waveTargets();
    }
  }
  if (prep.backend instanceof LocalRepoBackend && prep.plan.dialect === 'spec' && metadataToResign(prep.plan).length > 0) out.repoDocs = await prep.backend.readRepoDocs();
  return out;
}

function notesFor(prep: PreparedChanges): string[] {
  const notes: string[] = [];
  const plan = prep.plan;
  if (plan.dialect === 'foundries') {
    if (plan.newKeys.some((k) => k.role === 'targets' && k.via === 'rotate-key')) notes.push('The production tags and active waves the old offline targets key signed get a signature by the new targets key; they are sent with the roots at Publish.');
    if (plan.serverOnlineKeys.length > 0) notes.push(`The Factory generated the new online ${plan.serverOnlineKeys.join(', ')} keys inside the transaction.`);
  } else {
    const roles = metadataToResign(plan);
    if (roles.length > 0) notes.push(`After the root, ${roles.map((r) => `${r}.json`).join(', ')} are published re-signed with the new keys.`);
  }
  if (prep.generated.length > 0) notes.push(`${prep.generated.length} new key${prep.generated.length === 1 ? ' is' : 's are'} generated; Save writes them all into one new archive, proven before anything is published.`);
  return notes;
}

/** The plan summary: the rotation-only fields are there when the changes add exactly one new root key. */
function planSummary(prep: PreparedChanges): PlanSummary {
  const plan = prep.plan;
  const newRoot = plan.newKeys.filter((k) => k.role === 'root');
  const one = newRoot.length === 1 ? newRoot[0] : undefined;
  const expires = typeof plan.newSigned['expires'] === 'string' ? plan.newSigned['expires'] : prep.current.expires;
  return {
    dialect: plan.dialect,
    currentVersion: prep.current.version,
    newVersion: typeof plan.newSigned['version'] === 'number' ? plan.newSigned['version'] : prep.current.version + 1,
    ...(one !== undefined ? { newKeyId: one.keyid, newKeyShort: shortKeyId(one.keyid), algorithm: one.publicKey.algorithm, bits: one.publicKey.bits } : {}),
    removedKeyIds: plan.removedKeyIds,
    expires,
    warnings: plan.warnings,
  };
}
