/**
 * The one rotation session the server holds in memory: target → key archive → plan → sign →
 * save → publish → record. The steps are a run: the root-key rotation (session/rotation.ts, the
 * ceremony core of ceremony.ts) or several key changes (session/changes.ts, the change core of
 * changes/), exactly as the CLI runs them; recovery views are in session/recovery.ts, the recovery
 * actions in session/recovery-actions.ts, the key sources (archives, token and PEM keys) in
 * session/key-sources.ts, the target choice in session/targets.ts. The uploaded archive and every
 * private key stay in this object; what leaves it goes through views.ts and the reply schemas.
 */
import path from 'node:path';
import type { CeremonyRecord, Job, PublishResultReply, RecoveryInfo, RootHistory, RootSummary, SaveBody, SessionState, TargetBody, TargetInfo, PlanBody, ArchiveReply } from '../shared/api.js';
import type { KeyArchive } from './archive/read.js';
import type { Backend } from './backends/backend.js';
import { userDirectoryOf } from './backends/user-directory.js';
import { firstTimeHeld, firstTimeKeysPath } from './first-time.js';
import { AppError } from './errors.js';
import type { Jobs } from './jobs.js';
import type { Ceremony } from './ceremony/ceremony.js';
import type { Reconciled } from './ceremony/reconcile.js';
import { openCeremony } from './ceremony/steps.js';
import { CeremonyStore } from './ceremony/store.js';
import { exists } from './util/fs-atomic.js';
import type { KeyRing } from './keyring.js';
import type { PemKeyReply, TokenKeyReply } from '../shared/api.js';
import type { HeldArchives } from './lend-archive.js';
import { ChangeRun } from './session/changes.js';
import { addPemKey, addTokenKey, lendArchiveKeys, uploadArchive } from './session/key-sources.js';
import type { KeyHolder } from './session/key-sources.js';
import { buildRecord } from './session/record.js';
import { backendOfCeremony, publishCeremonyRun, recoveryInfo } from './session/recovery.js';
import { cancelFactoryTransaction, finishMetadata, reapply } from './session/recovery-actions.js';
import type { RecoveryDeps } from './session/recovery-actions.js';
import { RotationRun } from './session/rotation.js';
import type { StepRun } from './session/rotation.js';
import { targetBackend } from './session/targets.js';
import type { AskedChange } from './change-keys.js';
import type { Root, RootDocument, VerifyReport } from './tuf/model.js';
import { readFileLimited, sha256Hex } from './util/fs-atomic.js';
import { archiveView, historyView, rootSummary } from './views.js';

export interface SessionOptions {
  /** The work folder: its ceremonies, and where new archives (and an offline target's new root) are written by default. */
  workDir: string;
  /** Called at each step boundary of a job (the fault-injection tests kill the server here). */
  onStep?: (step: string) => void;
  now: () => Date;
  /** The practice target, for `POST /api/target {kind: "practice"}`. */
  practiceTarget?: () => Promise<Backend>;
  /** The server's embedded practice factory, for `POST /api/target {kind: "practice-factory"}`. */
  practiceFactoryTarget?: () => Promise<Backend>;
  /** Where a factory target's token may come from (FIOCTL_TOKEN, FIOCTL_CONFIG, HOME); default: none. */
  env?: NodeJS.ProcessEnv;
}

const NEW_ARCHIVE_LIMIT = 64 * 1024 * 1024;

function state(message: string, hint: string): AppError {
  return new AppError('SESSION_STATE', message, hint);
}

export class Session {
  #target: Backend | undefined;
  #current: Root | undefined;
  #archive: HeldArchives | undefined;
  /** The planned run: the root-key rotation, or several key changes (POST /api/plan with `changes`). */
  #run: StepRun | undefined;
  #published: (PublishResultReply & { report: VerifyReport }) | undefined;
  #times: CeremonyRecord['times'] = {};
  /** The work folder's ceremonies; the current one is the truth, reconciled on every read. */
  readonly #store: CeremonyStore;
  /** The ceremony this server process is running the steps of (the work folder's current one). */
  #ceremony: Ceremony | undefined;
  #last: { ceremony: Ceremony; reconciled: Reconciled } | undefined;

  constructor(
    private readonly o: SessionOptions,
    private readonly jobs: Jobs,
    initialTarget?: Backend,
  ) {
    this.#target = initialTarget;
    this.#store = new CeremonyStore(o.workDir);
  }

  get workDir(): string {
    return this.o.workDir;
  }

  /** Opens the work folder's current ceremony and reconciles it with its target (server start, every page load). */
  async open(): Promise<{ ceremony: Ceremony; reconciled: Reconciled } | undefined> {
    const opened = await openCeremony(this.#store, { who: 'server', now: this.o.now, adoptPractice: true, ...(this.o.env ? { env: this.o.env } : {}), ...(this.#target ? { backend: this.#target } : {}) });
    if (opened && opened.ceremony.id !== this.#ceremony?.id) {
      // Another process (the CLI, or an earlier server) started a ceremony: this process's memory of steps is not it.
      this.#run = undefined;
      this.#published = undefined;
    }
    if (opened) {
      this.#ceremony = opened.ceremony;
      // The run in progress records its steps (signed, keys saved) through its ceremony object: hand
      // it the one just reconciled, or after a page reload publish reads a copy those steps never touched.
      const run = this.#run;
      if (run?.ceremony !== undefined && run.ceremony.id === opened.ceremony.id) run.ceremony = opened.ceremony;
    }
    this.#last = opened;
    return opened;
  }

  #progress(progress: (step: string, detail?: string) => void): (step: string, detail?: string) => void {
    return (step, detail) => {
      progress(step, detail);
      this.o.onStep?.(step);
    };
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  async state(): Promise<SessionState> {
    const busy = this.jobs.running();
    // Reconcile on every read: the work folder's ceremony and the target are the truth, not this process's memory.
    // While a job runs it owns the ceremony's files: show the last reconciled view, write nothing.
    const opened = busy ? this.#last : await this.open().catch(() => this.#last);
    const out: SessionState = { step: this.#step(), published: this.#published !== undefined, work: this.o.workDir };
    if (busy) out.busyJobId = busy.id;
    if (this.#target) out.target = this.#targetInfo(this.#target);
    if (this.#archive) out.archive = archiveView(this.#archive.archive, this.#archive.ring, await this.#currentOrUndefined(), this.#archive.lent);
    const run = this.#run;
    if (run) {
      out.plan = run.plan;
      if (run.sign) out.sign = run.sign;
      if (run.saved) out.save = { path: run.saved.path, sha256: run.saved.sha256, bytes: run.saved.bytes };
    }
    if (this.#published) out.publish = { location: this.#published.location, version: this.#published.version, verify: this.#published.verify };
    out.recovery = recoveryInfo(opened, this.o.workDir);
    return out;
  }

  async root(): Promise<RootSummary> {
    return rootSummary(await this.#currentRoot(true), this.#archive?.ring, this.o.now(), await userDirectoryOf(this.#target));
  }

  async history(): Promise<RootHistory> {
    return historyView(await this.#backend().history(), this.o.now());
  }

  /** #13: the chosen target and the session's clock, for the expiry reminders (GET /api/root/expiry.ics). */
  expiryTarget(): { backend: Backend; now: Date } {
    return { backend: this.#backend(), now: this.o.now() };
  }

  /** The signed new root document (public), after the sign step. */
  newRoot(): { document: RootDocument; version: number } {
    const signed = this.#run?.signedRoot();
    if (!signed) throw state('There is no signed new root yet.', 'Run the sign step first.');
    return { document: signed.document, version: signed.root.version };
  }

  /** The saved new archive, read back from disk and checked against the SHA-256 shown at save. */
  async newArchive(): Promise<{ bytes: Uint8Array; name: string }> {
    const saved = this.#run?.saved ?? this.#ceremony?.savedArchive();
    if (!saved) throw state('The new key archive has not been saved yet.', 'Run the save step first; the download is the file it wrote.');
    const bytes = await readFileLimited(saved.path, NEW_ARCHIVE_LIMIT, 'key archive');
    if (sha256Hex(bytes) !== saved.sha256) {
      throw new AppError('ARCHIVE_READBACK_FAILED', `${saved.path} changed after it was saved (its SHA-256 differs).`, 'Do not publish; save the new archive again and check the disk.');
    }
    return { bytes, name: path.basename(saved.path) };
  }

  /** The ceremony record: facts and verification results, no secrets. */
  record(): CeremonyRecord {
    const target = this.#target;
    const archive = this.#archive;
    const run = this.#run;
    const signed = run?.signedRoot();
    if (!run || !signed || !target || !archive) throw state('There is nothing to record yet.', 'Plan and sign a rotation first.');
    const facts = run.recordFacts();
    return buildRecord({
      target: this.#targetInfo(target),
      current: facts.current,
      signed: signed.root,
      report: signed.report,
      newKeyId: facts.newKeyId,
      inputArchiveSha256: archive.archive.sha256,
      times: this.#times,
      now: this.o.now(),
      saved: run.saved,
      ...(this.#published ? { published: { location: this.#published.location, report: this.#published.report } } : {}),
      allowExpired: facts.allowExpired,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Changing

  async setTarget(body: TargetBody): Promise<{ target: TargetInfo; root: RootSummary }> {
    this.#idle();
    const backend = await targetBackend(body, this.o);
    const current = await backend.currentRoot();
    await this.#discardRotation();
    this.#target = backend;
    this.#current = current;
    this.#published = undefined;
    this.#times = {};
    return { target: this.#targetInfo(backend), root: rootSummary(current, this.#archive?.ring, this.o.now(), await userDirectoryOf(backend)) };
  }

  /** For the changes preview (server/changes-preview.ts): the current root and the uploaded keys, read only. */
  async changesBase(): Promise<{ current: Root; ring: KeyRing | undefined }> {
    return { current: await this.#currentRoot(), ring: this.#archive?.ring };
  }

  async uploadArchive(bytes: Uint8Array): Promise<ArchiveReply> {
    this.#idle();
    this.#notPublished();
    return uploadArchive(bytes, this.#keyHolder());
  }

  /**
   * A further key archive lends its keys (server/lend-archive.ts): a Factory's targets keys in
   * their own file, say. Without a first archive it is the first archive.
   */
  async lendArchive(bytes: Uint8Array): Promise<ArchiveReply> {
    const prev = this.#archive;
    if (!prev || prev.ring.keys.length === 0) return this.uploadArchive(bytes);
    this.#idle();
    this.#notPublished();
    return lendArchiveKeys(prev, bytes, this.#keyHolder());
  }

  /**
   * A key in a hardware token joins the keys (beside an uploaded archive, or alone). The PIN is
   * handed to C_Login and dropped: it is never logged, stored or sent back.
   */
  async addTokenKey(body: { module?: string; token: string; key: string; pin: string }): Promise<TokenKeyReply> {
    this.#idle();
    this.#notPublished();
    return addTokenKey(body, this.#keyHolder());
  }

  /** A PEM private key file joins the keys (beside an uploaded archive, or alone): server/pem-key.ts. */
  async addPemKey(body: { pem: string; name?: string }): Promise<PemKeyReply> {
    this.#idle();
    this.#notPublished();
    return addPemKey(body, this.#keyHolder());
  }

  /** The held keys, for the key sources (session/key-sources.ts). */
  #keyHolder(): KeyHolder {
    return {
      held: () => this.#archive,
      discardRotation: () => this.#discardRotation(),
      hold: (next) => {
        this.#archive = next;
      },
      currentOrUndefined: () => this.#currentOrUndefined(),
      ...(this.o.env ? { env: this.o.env } : {}),
    };
  }

  startPlan(body: PlanBody): Job {
    this.#idle();
    this.#notPublished();
    const backend = this.#backend();
    // A first-time Factory rotation uploads nothing: the Factory hands over its first root key (server/first-time.ts).
    const firstTime = backend.firstTime === true;
    const held = firstTime ? firstTimeHeld() : this.#archive;
    if (!held) throw state('No key archive has been uploaded.', 'Upload the key archive (.tgz) first.');
    const changes = body.changes as AskedChange[] | undefined;
    const onlyRoot = changes !== undefined && changes.length === 1 && changes[0]?.kind === 'rotate-key' && changes[0].role === 'root';
    if (changes !== undefined && body.newTokenKey !== undefined && !onlyRoot) {
      throw new AppError('BAD_REQUEST', 'A new key in a hardware token is for the root-key rotation alone, not for other key changes.', 'Either rotate only the root key with the new key in the token, or leave the token out: the changes generate their keys and save them in the new archive.');
    }
    if (changes !== undefined && body.expiresDays !== undefined && !(onlyRoot && body.newTokenKey !== undefined)) {
      throw new AppError('BAD_REQUEST', 'The expiry in days is for the root-key rotation; with several key changes, add a "refresh the expiry" change instead.', 'Add the change that refreshes the expiry, with its number of days.');
    }
    if (firstTime && changes !== undefined && !(onlyRoot && body.newTokenKey !== undefined)) {
      throw new AppError('BAD_REQUEST', 'A first-time rotation rotates the root key alone.', 'Rotate the root key first; make the other key changes in a second ceremony, with the archive this one saves.');
    }
    // The root-key rotation with a new key in a token is the rotation itself; any other changes run through the change core.
    if (changes !== undefined && !(onlyRoot && body.newTokenKey !== undefined)) return this.#startChangesPlan(body, changes, backend, held);
    return this.jobs.start('plan', async (jobProgress) => {
      const progress = this.#progress(jobProgress);
      await this.#discardRotation();
      const now = this.o.now();
      // First-time: the first root key the Factory hands over is written at once to a new file (server/first-time.ts).
      const firstTimeOut = firstTime ? await firstTimeKeysPath(this.o.workDir, (backend as { client?: { factory?: string } }).client?.factory ?? 'factory', now) : undefined;
      const run = await RotationRun.plan(backend, { ring: held.ring, sha256: held.archive.sha256, ...(firstTimeOut !== undefined ? { firstTimeOut } : {}) }, this.#store, body, this.#runOptions(), progress);
      if (firstTime) this.#archive = { archive: held.ring.archive ?? held.archive, ring: held.ring }; // the first root key, as if uploaded
      this.#run = run;
      this.#times = { planned: now.toISOString() };
      return { plan: run.plan };
    });
  }

  #runOptions(): { who: string; now: () => Date; env?: NodeJS.ProcessEnv; onCeremony: (c: Ceremony) => void } {
    return { who: 'server', now: this.o.now, ...(this.o.env ? { env: this.o.env } : {}), onCeremony: (c) => (this.#ceremony = c) };
  }

  #startChangesPlan(body: PlanBody, changes: AskedChange[], backend: Backend, held: { archive: KeyArchive; ring: KeyRing }): Job {
    return this.jobs.start('plan', async (jobProgress) => {
      const progress = this.#progress(jobProgress);
      await this.#discardRotation();
      const now = this.o.now();
      const run = await ChangeRun.plan(
        backend,
        held.ring,
        held.archive.sha256,
        this.#store,
        {
          asked: changes,
          keyType: body.keyType,
          now,
          ...(body.changelog !== undefined ? { changelog: body.changelog } : {}),
          ...(body.abandon !== undefined ? { abandon: body.abandon } : {}),
          ...(body.allowExpired !== undefined ? { allowExpired: body.allowExpired } : {}), // #13 expired-root override
        },
        this.#runOptions(),
        progress,
      );
      this.#run = run;
      this.#times = { planned: now.toISOString() };
      return { plan: run.plan };
    });
  }

  startSign(): Job {
    this.#idle();
    this.#notPublished();
    const run = this.#run;
    if (!run) throw state('There is no plan to sign.', 'Run the plan step first.');
    run.assertSignable();
    return this.jobs.start('sign', async (jobProgress) => {
      const sign = await run.runSign(this.#progress(jobProgress));
      this.#times.signed = this.o.now().toISOString();
      return { sign };
    });
  }

  startSave(body: SaveBody): Job {
    this.#idle();
    this.#notPublished();
    const run = this.#run;
    const signed = run?.signedRoot();
    if (!run || !signed) throw state('There is no signed new root yet.', 'Run the plan and sign steps first.');
    if (!signed.report.ok) {
      throw new AppError('VERIFY_FAILED', 'The new root did not pass verification, so no archive is written for it.', 'See the failing rules of the sign step; plan again.');
    }
    const ceremony = run.ceremony;
    if (!ceremony || (ceremony.state !== 'signed' && ceremony.state !== 'keys-saved')) throw state('The work folder\'s ceremony is not at the save step.', 'Reload the page: another tab or the command line may have changed it.');
    // Invariant 2: a new path by default (never over another ceremony's archive); an existing file only with overwrite (and then a backup).
    const version = signed.root.version;
    return this.jobs.start('save', async (jobProgress) => {
      const progress = this.#progress(jobProgress);
      let out = path.resolve(this.o.workDir, body.path ?? `offline-keys-v${version}.tgz`);
      const copy = ceremony.state === 'keys-saved';
      if (!copy && body.path === undefined && (await exists(out))) out = path.join(this.o.workDir, `offline-keys-v${version}-${ceremony.id}.tgz`);
      const saved = await run.runSave(out, { overwrite: body.overwrite ?? false, copy, now: this.o.now() }, progress);
      // A page read (open()) since the plan replaced #ceremony with a copy read from disk; publish checks #ceremony: use the run's, which recorded the save.
      this.#ceremony = ceremony;
      this.#times.saved = this.o.now().toISOString();
      return { save: { path: saved.path, sha256: saved.sha256, bytes: saved.bytes, ...(saved.backupPath === undefined ? {} : { backupPath: saved.backupPath }) } };
    });
  }

  /**
   * Publishes the ceremony's saved root (invariants 1 and 4: only a verified root, only once its
   * keys are safe on disk). It reads the ceremony, not this process's memory: a second tab, a
   * reload or a restart publishes the same saved root.
   */
  startPublish(): Job {
    this.#idle();
    this.#notPublished();
    if (!this.#ceremony || this.#ceremony.state !== 'keys-saved') {
      throw new AppError(
        'PUBLISH_BEFORE_SAVE',
        'The new root cannot be published before it is signed, verified and the new key archive is saved.',
        'Run the sign step, then save the new key archive; publish after that.',
      );
    }
    return this.#publishCeremony(this.#ceremony, this.#run?.signedRoot() !== undefined);
  }

  /** Recovery: publishes the saved root of the work folder's current ceremony (reconciled first). */
  startRecoveryPublish(): Job {
    this.#idle();
    const c = this.#ceremony;
    if (c && c.state === 'published' && c.data.run === 'changes') return this.#finishMetadata(c);
    if (!c || c.state !== 'keys-saved') {
      throw state('There is no saved-but-unpublished rotation to publish.', 'See the recovery state in GET /api/session.');
    }
    return this.#publishCeremony(c);
  }

  /** A change run interrupted between its published root and the re-signed metadata: writes the metadata the ceremony kept. */
  #finishMetadata(c: Ceremony): Job {
    return this.jobs.start('publish', async (jobProgress) => finishMetadata(c, this.#recoveryDeps(jobProgress)));
  }

  /** What a recovery action needs (session/recovery-actions.ts). */
  #recoveryDeps(jobProgress: (step: string, detail?: string) => void): RecoveryDeps {
    return { target: this.#target, env: this.o.env, now: this.o.now, progress: this.#progress(jobProgress), reopen: () => this.open() };
  }

  /** Cancels the ceremony's open Factory transaction (nothing applied), then reads the state back. */
  async cancelCeremony(): Promise<RecoveryInfo> {
    this.#idle();
    const opened = await this.open();
    const c = opened?.ceremony;
    if (!c || (c.data.target.kind !== 'factory' && c.data.target.kind !== 'practice')) {
      throw state('There is no Factory transaction of this work folder\'s ceremony to cancel.', 'See the ceremony in GET /api/session.');
    }
    const message = await cancelFactoryTransaction(this.#target, c, this.o.env);
    await this.#discardRotation();
    if (c.state === 'draft' || c.state === 'staged' || c.state === 'signed' || c.state === 'keys-saved') {
      await c.transition('cancelled', 'Factory transaction cancelled from the page', { reason: message });
    }
    return recoveryInfo(await this.open(), this.o.workDir);
  }

  /** Re-runs apply after a partial apply, until both chains are published. */
  startReapply(): Job {
    this.#idle();
    const c = this.#ceremony;
    if (!c || c.state !== 'partly-applied') throw state('The work folder\'s ceremony is not partly applied.', 'See the ceremony in GET /api/session.');
    return this.jobs.start('publish', async (jobProgress) => {
      const r = await reapply(c, this.#recoveryDeps(jobProgress));
      this.#published = { location: r.location, version: r.version, verify: r.verify, report: r.verify };
      return { publish: { location: r.location, version: r.version, verify: r.verify } };
    });
  }

  #publishCeremony(c: Ceremony, live = false): Job {
    return this.jobs.start('publish', async (jobProgress) => {
      const backend = await backendOfCeremony(this.#target, c, this.o.env);
      const now = this.o.now();
      const result = await publishCeremonyRun(c, backend, now, this.#progress(jobProgress), live && backend === this.#target);
      this.#current = this.#target === backend ? result.readBack : this.#current;
      this.#published = { location: result.location, version: result.readBack.version, verify: result.report, report: result.report };
      this.#times.published = now.toISOString();
      return { publish: { location: result.location, version: result.readBack.version, verify: result.report, ...(result.published ? { published: result.published } : {}) } };
    });
  }

  // -------------------------------------------------------------------------------------------

  #step(): SessionState['step'] {
    if (!this.#target) return 'target';
    if (!this.#archive && this.#target.firstTime !== true) return 'keys';
    if (this.#published) return 'done';
    const run = this.#run;
    if (!run) return 'plan';
    const signed = run.signedRoot();
    if (!signed || !signed.report.ok) return 'sign';
    return run.saved ? 'publish' : 'save';
  }

  #targetInfo(b: Backend): TargetInfo {
    return { kind: b.kind, description: b.description, ...(b.firstTime === true ? { firstTime: true } : {}) };
  }

  #backend(): Backend {
    if (!this.#target) {
      throw new AppError('TARGET_NOT_CONFIGURED', 'No target has been chosen.', 'Choose where the root lives first (POST /api/target).');
    }
    return this.#target;
  }

  async #currentRoot(fresh = false): Promise<Root> {
    const backend = this.#backend();
    if (fresh || !this.#current) this.#current = await backend.currentRoot();
    return this.#current;
  }

  async #currentOrUndefined(): Promise<Root | undefined> {
    if (!this.#target) return undefined;
    try {
      return await this.#currentRoot();
    } catch {
      return undefined;
    }
  }

  #idle(): void {
    const busy = this.jobs.running();
    if (busy) throw state(`A ${busy.kind} step is still running.`, 'Wait for it to finish (GET /api/jobs/:id), then try again.');
  }

  #notPublished(): void {
    if (this.#published) {
      throw state('This session has already published its rotation.', 'Download the record; to rotate again, choose the target again.');
    }
  }

  /** Drops a planned rotation (a Factory cancels its transaction; the ceremony, if it saved nothing, is cancelled); a saved archive stays on disk and in its ceremony. */
  async #discardRotation(): Promise<void> {
    const planned = this.#run?.begun === true;
    if (planned && !this.#published) await this.#target?.abort();
    const c = this.#ceremony;
    if (planned && c && (c.state === 'draft' || c.state === 'staged' || c.state === 'signed')) {
      await c.transition('cancelled', 'discarded in the page', { reason: 'the plan was discarded before any key was saved; nothing was published' }).catch(() => undefined);
    }
    this.#run = undefined;
  }
}
