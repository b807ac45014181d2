/**
 * The page's root-key rotation (POST /api/plan without `changes`), step by step as jobs over the
 * ceremony core (server/ceremony.ts) exactly as `tuf-rotate rotate` runs it, recorded in the
 * work folder's ceremony (ceremony/steps.ts).
 */
import type { PlanBody, PlanResult, SignResult } from '../../shared/api.js';
import type { Backend } from '../backends/backend.js';
import { prepareRotation, saveArchive, signAndVerify } from '../ceremony.js';
import type { PreparedRotation, Progress, SavedArchive, SignedRotation } from '../ceremony.js';
import type { Ceremony } from '../ceremony/ceremony.js';
import { recordPlanned, recordSaved, recordSigned, startCeremony } from '../ceremony/steps.js';
import type { CeremonyStore } from '../ceremony/store.js';
import { AppError } from '../errors.js';
import { heldKeysForRole } from '../keyring.js';
import type { KeyRing } from '../keyring.js';
import type { Root, RootDocument, VerifyReport } from '../tuf/model.js';
import { planView, signView } from '../views.js';
import { newTokenKeyOption } from './targets.js';
import { userDirectoryOf } from '../backends/user-directory.js';
import { FIRST_TIME_SOURCE } from '../first-time.js';

/** What the session needs of a run, rotation or changes, whichever the plan started. */
export interface StepRun {
  readonly plan: PlanResult;
  readonly sign: SignResult | undefined;
  readonly saved: SavedArchive | undefined;
  /** Replaced by the session with the copy it reconciled on a page load (the same ceremony, read again). */
  ceremony: Ceremony | undefined;
  /** The target's transaction was begun (aborted when the run is discarded). */
  readonly begun: boolean;
  /** The signed new root, once signed. */
  signedRoot(): { document: RootDocument; root: Root; report: VerifyReport } | undefined;
  assertSignable(): void;
  runSign(progress: Progress): Promise<SignResult>;
  runSave(out: string, o: { overwrite: boolean; copy: boolean; now: Date }, progress: Progress): Promise<SavedArchive>;
  /** Facts for the ceremony record. */
  recordFacts(): { current: Root; newKeyId: string; allowExpired?: { reason: string; expired: string } | undefined };
}

export class RotationRun implements StepRun {
  readonly begun = true;
  signed: SignedRotation | undefined;
  sign: SignResult | undefined;
  saved: SavedArchive | undefined;

  private constructor(
    readonly prep: PreparedRotation,
    readonly plan: PlanResult,
    public ceremony: Ceremony,
    private readonly ring: KeyRing,
  ) {}

  static async plan(
    backend: Backend,
    held: { ring: KeyRing; sha256: string; firstTimeOut?: string },
    store: CeremonyStore,
    body: PlanBody,
    o: { who: string; now: () => Date; env?: NodeJS.ProcessEnv; onCeremony: (c: Ceremony) => void },
    progress: Progress,
  ): Promise<RotationRun> {
    const now = o.now();
    // A first-time rotation's input is the first root key the Factory hands over, written to firstTimeOut.
    const inputKeys = held.firstTimeOut !== undefined ? { source: FIRST_TIME_SOURCE, path: held.firstTimeOut } : { source: 'the uploaded key archive', sha256: held.sha256 };
    // One ceremony at a time per work folder: one with saved keys is abandoned only when asked by id.
    const ceremony = await startCeremony(store, backend, {
      who: o.who,
      now: o.now,
      ...(o.env ? { env: o.env } : {}),
      changes: [{ op: 'rotate-key', role: 'root', keyType: body.keyType }],
      ...(body.abandon !== undefined ? { abandon: body.abandon } : {}),
      inputKeys: (current) => (heldKeysForRole(held.ring, current).size > 0 ? inputKeys : undefined),
    });
    o.onCeremony(ceremony);
    let prep: PreparedRotation;
    try {
      prep = await prepareRotation(
        backend,
        held.ring,
        {
          ...(held.firstTimeOut !== undefined ? { firstTimeOut: held.firstTimeOut } : {}),
          keyType: body.keyType,
          now,
          ...(body.changelog !== undefined ? { changelog: body.changelog } : {}),
          ...(body.expiresDays !== undefined ? { expiresDays: body.expiresDays } : {}),
          ...(body.allowExpired !== undefined ? { allowExpired: body.allowExpired } : {}), // #13 expired-root override
          ...(body.newTokenKey !== undefined ? { newTokenKey: newTokenKeyOption(body.newTokenKey, o.env ?? {}) } : {}),
        },
        progress,
      );
    } catch (e) {
      await ceremony.transition('cancelled', 'plan failed', { reason: e instanceof AppError ? e.message : 'the plan step failed; nothing was published' }).catch(() => undefined);
      throw e;
    }
    await recordPlanned(ceremony, prep, backend, { inputKeys });
    return new RotationRun(prep, planView(prep, held.ring, await userDirectoryOf(backend)), ceremony, held.ring);
  }

  signedRoot(): { document: RootDocument; root: Root; report: VerifyReport } | undefined {
    return this.signed ? { document: this.signed.document, root: this.signed.root, report: this.signed.report } : undefined;
  }

  assertSignable(): void {}

  async runSign(progress: Progress): Promise<SignResult> {
    const signed = await signAndVerify(this.prep, progress);
    if (signed.report.ok) await recordSigned(this.ceremony, this.prep, signed);
    this.signed = signed;
    this.sign = signView(signed);
    return this.sign;
  }

  async runSave(out: string, o: { overwrite: boolean; copy: boolean; now: Date }, progress: Progress): Promise<SavedArchive> {
    const saved = await saveArchive(this.prep, this.ring, out, { overwrite: o.overwrite }, progress);
    // Invariant 1: the ceremony says where the new key is (proven) before any publish.
    progress('journal', 'Recording the saved archive in the ceremony');
    if (o.copy) await this.ceremony.update('another copy of the new key archive saved and proven', {}, { path: saved.path, sha256: saved.sha256 });
    else await recordSaved(this.ceremony, saved, o.now);
    this.saved ??= saved;
    return saved;
  }

  recordFacts(): { current: Root; newKeyId: string; allowExpired?: { reason: string; expired: string } | undefined } {
    return { current: this.prep.current, newKeyId: this.prep.plan.newKeyId, allowExpired: this.prep.expiredOverride };
  }
}
