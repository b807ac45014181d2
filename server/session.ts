/**
 * The one rotation session the server holds in memory: target → key archive → plan → sign →
 * save → publish → record. Every step calls the ceremony core (ceremony.ts), exactly as the CLI
 * does. The uploaded archive and every private key stay in this object; what leaves it goes
 * through views.ts and the reply schemas.
 */
import path from 'node:path';
import type { CeremonyRecord, Job, PublishResultReply, RecoveryInfo, RootHistory, RootSummary, SaveBody, SessionState, TargetBody, TargetInfo, PlanBody, ArchiveReply, PlanResult, SignResult } from '../shared/api.js';
import { readKeyArchive } from './archive/read.js';
import type { KeyArchive } from './archive/read.js';
import type { Backend } from './backends/backend.js';
import { FoundriesBackend } from './backends/foundries.js';
import { DEFAULT_API_URL, FoundriesClient, loadToken } from './backends/foundries-client.js';
import { LocalRepoBackend } from './backends/local-repo.js';
import { OfflineBackend } from './backends/offline.js';
import { userDirectoryOf } from './backends/user-directory.js';
import { FIRST_TIME_SOURCE, firstTimeHeld, firstTimeKeysPath } from './first-time.js';
import { prepareRotation, saveArchive, signAndVerify } from './ceremony.js';
import type { PreparedRotation, SavedArchive, SignedRotation } from './ceremony.js';
import type { RotateOptions } from './ceremony.js';
import { pinFromValue } from './signers/pin.js';
import { AppError } from './errors.js';
import type { Jobs } from './jobs.js';
import type { Ceremony } from './ceremony/ceremony.js';
import { backendFromRef, refOf, sameTarget } from './ceremony/reconcile.js';
import type { Reconciled } from './ceremony/reconcile.js';
import { openCeremony, publishSaved, recordPlanned, recordSaved, recordSigned, startCeremony } from './ceremony/steps.js';
import { CeremonyStore } from './ceremony/store.js';
import { exists } from './util/fs-atomic.js';
import { closeKeyRing, emptyArchive, heldKeysForRole, keyRingFromArchive } from './keyring.js';
import type { HeldKey, KeyRing } from './keyring.js';
import type { PemKeyReply, TokenKeyReply } from '../shared/api.js';
import { formatPkcs11Uri } from './signers/pkcs11-uri.js';
import { parseRoot } from './tuf/metadata.js';
import type { JsonObject } from './tuf/json.js';
import type { Root, RootDocument } from './tuf/model.js';
import { readFileLimited, sha256Hex } from './util/fs-atomic.js';
import { archiveView, historyView, planView, rootKeysHeld, rootSummary, signedSha256, signView } from './views.js';

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

/** The page's "new key in a hardware token" fields as the ceremony's option (the PIN goes to C_Login only). */
function newTokenKeyOption(
  t: { module?: string; token: string; key: string; pin: string; existing?: boolean; ackNoBackup?: string },
  env: Record<string, string | undefined>,
): NonNullable<RotateOptions['newTokenKey']> {
  return {
    uri: formatPkcs11Uri({ token: t.token, object: t.key }),
    pkcs11: { modulePath: t.module, env, pin: pinFromValue(t.pin) },
    noBackupAck: t.ackNoBackup?.trim(),
    existing: t.existing === true,
  };
}

function state(message: string, hint: string): AppError {
  return new AppError('SESSION_STATE', message, hint);
}

export class Session {
  #target: Backend | undefined;
  #current: Root | undefined;
  #archive: { archive: KeyArchive; ring: KeyRing } | undefined;
  #prep: PreparedRotation | undefined;
  #plan: PlanResult | undefined;
  #signed: SignedRotation | undefined;
  #sign: SignResult | undefined;
  #saved: SavedArchive | undefined;
  #published: (PublishResultReply & { report: SignedRotation['report'] }) | undefined;
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
      this.#prep = undefined;
      this.#plan = undefined;
      this.#signed = undefined;
      this.#sign = undefined;
      this.#saved = undefined;
      this.#published = undefined;
    }
    if (opened) this.#ceremony = opened.ceremony;
    this.#last = opened;
    return opened;
  }

  /** What the reconciled ceremony means, for the page. */
  #recovery(opened: { ceremony: Ceremony; reconciled: Reconciled } | undefined): RecoveryInfo {
    if (!opened) return { state: 'none', message: `There is no ceremony in the work folder ${this.o.workDir} yet.`, actions: ['new-ceremony'] };
    const r = opened.reconciled;
    const actions: NonNullable<RecoveryInfo['actions']> = [];
    const factory = r.target.kind === 'factory' || r.target.kind === 'practice';
    if (r.state === 'keys-saved' && !factory) actions.push('publish-saved');
    if (factory && r.state === 'partly-applied') actions.push('re-apply');
    if (factory && r.reachable && ((r.state === 'staged' || r.state === 'signed' || r.state === 'keys-saved') || r.otherTransaction?.status === 'STARTED')) actions.push('cancel');
    if (r.state !== 'partly-applied') actions.push('new-ceremony');
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
    if (this.#archive) out.archive = archiveView(this.#archive.archive, this.#archive.ring, await this.#currentOrUndefined());
    if (this.#plan) out.plan = this.#plan;
    if (this.#sign) out.sign = this.#sign;
    if (this.#saved) out.save = { path: this.#saved.path, sha256: this.#saved.sha256, bytes: this.#saved.bytes };
    if (this.#published) out.publish = { location: this.#published.location, version: this.#published.version, verify: this.#published.verify };
    out.recovery = this.#recovery(opened);
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
    if (!this.#signed) throw state('There is no signed new root yet.', 'Run the sign step first.');
    return { document: this.#signed.document, version: this.#signed.root.version };
  }

  /** The saved new archive, read back from disk and checked against the SHA-256 shown at save. */
  async newArchive(): Promise<{ bytes: Uint8Array; name: string }> {
    const saved = this.#saved ?? this.#ceremony?.savedArchive();
    if (!saved) throw state('The new key archive has not been saved yet.', 'Run the save step first; the download is the file it wrote.');
    const bytes = await readFileLimited(saved.path, NEW_ARCHIVE_LIMIT, 'key archive');
    if (sha256Hex(bytes) !== saved.sha256) {
      throw new AppError('ARCHIVE_READBACK_FAILED', `${saved.path} changed after it was saved (its SHA-256 differs).`, 'Do not publish; save the new archive again and check the disk.');
    }
    return { bytes, name: path.basename(saved.path) };
  }

  /** The ceremony record: facts and verification results, no secrets. */
  record(): CeremonyRecord {
    const prep = this.#prep;
    const signed = this.#signed;
    if (!prep || !signed || !this.#target || !this.#archive) throw state('There is nothing to record yet.', 'Plan and sign a rotation first.');
    const view = (r: Root) => ({
      version: r.version,
      expires: r.expires,
      sha256: signedSha256(r),
      rootKeyIds: r.roles['root']?.keyids ?? [],
      rootThreshold: r.roles['root']?.threshold ?? 0,
    });
    const oldIds = Object.keys(prep.current.keys);
    const newIds = Object.keys(signed.root.keys);
    const out: CeremonyRecord = {
      tool: 'tuf-rotate',
      // When the ceremony's last step happened: the same on every fetch of the record.
      createdAt: this.#times.published ?? this.#times.saved ?? this.#times.signed ?? this.#times.planned ?? this.o.now().toISOString(),
      target: this.#targetInfo(this.#target),
      dialect: signed.root.dialect,
      old: view(prep.current),
      new: view(signed.root),
      newKeyId: prep.plan.newKeyId,
      keyIdsAdded: newIds.filter((id) => !oldIds.includes(id)),
      keyIdsRemoved: oldIds.filter((id) => !newIds.includes(id)),
      inputArchiveSha256: this.#archive.archive.sha256,
      verification: { signed: signed.report, ...(this.#published ? { published: this.#published.report } : {}) },
      times: this.#times,
    };
    if (this.#saved) out.archive = { path: this.#saved.path, sha256: this.#saved.sha256, bytes: this.#saved.bytes };
    if (this.#published) out.published = { location: this.#published.location };
    if (prep.expiredOverride) out.allowExpired = prep.expiredOverride; // #13 expired-root override
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Changing

  async setTarget(body: TargetBody): Promise<{ target: TargetInfo; root: RootSummary }> {
    this.#idle();
    let backend: Backend;
    switch (body.kind) {
      case 'repo':
        backend = new LocalRepoBackend(path.resolve(this.o.workDir, body.dir));
        break;
      case 'offline': {
        const root = parseRoot(body.root as JsonObject, 'the uploaded root.json');
        backend = new OfflineBackend({ root }, path.join(this.o.workDir, `${root.version + 1}.root.json`));
        break;
      }
      case 'practice':
        if (!this.o.practiceTarget) {
          throw new AppError('TARGET_NOT_CONFIGURED', 'This server has no practice target.', 'Choose a local repository or upload a root.json.');
        }
        backend = await this.o.practiceTarget();
        break;
      case 'practice-factory':
        if (!this.o.practiceFactoryTarget) {
          throw new AppError('TARGET_NOT_CONFIGURED', 'This server has no practice factory.', 'Choose a FoundriesFactory, a local repository or upload a root.json.');
        }
        backend = await this.o.practiceFactoryTarget();
        break;
      case 'factory':
        backend = this.#factoryBackend(body);
        break;
    }
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
    const archive = await readKeyArchive(bytes, { name: 'the uploaded archive' });
    const ring = keyRingFromArchive(archive, 'the uploaded archive');
    await this.#discardRotation();
    if (this.#archive) closeKeyRing(this.#archive.ring);
    this.#archive = { archive, ring };
    const root = await this.#currentOrUndefined();
    return { archive: archiveView(archive, ring, root).archive, ...(root ? { rootKeys: rootKeysHeld(ring, root) } : {}) };
  }

  /**
   * A key in a hardware token joins the keys (beside an uploaded archive, or alone). The PIN is
   * handed to C_Login and dropped: it is never logged, stored or sent back.
   */
  async addTokenKey(body: { module?: string; token: string; key: string; pin: string }): Promise<TokenKeyReply> {
    this.#idle();
    this.#notPublished();
    const [{ Pkcs11Signer }, { pinFromValue }] = await Promise.all([import('./signers/pkcs11.js'), import('./signers/pin.js')]);
    const signer = await Pkcs11Signer.open(formatPkcs11Uri({ token: body.token, object: body.key }), {
      modulePath: body.module,
      env: this.o.env ?? {},
      pin: pinFromValue(body.pin),
    });
    const held: HeldKey = { label: `${signer.uri} (token "${signer.token.label}")`, publicKey: signer.publicKey, signer, tokenUri: signer.uri };
    await this.#discardRotation();
    const prev = this.#archive;
    const archive = prev?.archive ?? emptyArchive();
    const others = (prev?.ring.keys ?? []).filter((k) => k.tokenUri !== signer.uri);
    if (prev) closeKeyRing({ ...prev.ring, keys: prev.ring.keys.filter((k) => k.tokenUri === signer.uri) });
    const ring: KeyRing = { source: prev ? `${prev.ring.source}, ${signer.uri}` : signer.uri, archive: prev?.ring.archive, keys: [...others, held] };
    this.#archive = { archive, ring };
    const root = await this.#currentOrUndefined();
    const t = signer.token;
    return {
      archive: archiveView(archive, ring, root).archive,
      ...(root ? { rootKeys: rootKeysHeld(ring, root) } : {}),
      tokenKey: { uri: signer.uri, label: t.label, serial: t.serial, manufacturer: t.manufacturer, model: t.model, algorithm: signer.publicKey.algorithm, bits: signer.publicKey.bits },
    };
  }

  /** A PEM private key file joins the keys (beside an uploaded archive, or alone): server/pem-key.ts. */
  async addPemKey(body: { pem: string; name?: string }): Promise<PemKeyReply> {
    this.#idle();
    this.#notPublished();
    const { joinPemKey } = await import('./pem-key.js');
    const joined = joinPemKey(this.#archive, body);
    await this.#discardRotation();
    this.#archive = { archive: joined.archive, ring: joined.ring };
    const root = await this.#currentOrUndefined();
    return { archive: archiveView(joined.archive, joined.ring, root).archive, ...(root ? { rootKeys: rootKeysHeld(joined.ring, root) } : {}), pemKey: joined.pemKey };
  }

  startPlan(body: PlanBody): Job {
    this.#idle();
    this.#notPublished();
    const backend = this.#backend();
    // A first-time Factory rotation uploads nothing: the Factory hands over its first root key (server/first-time.ts).
    const firstTime = backend.firstTime === true;
    const held = firstTime ? firstTimeHeld() : this.#archive;
    if (!held) throw state('No key archive has been uploaded.', 'Upload the key archive (.tgz) first.');
    return this.jobs.start('plan', async (jobProgress) => {
      const progress = this.#progress(jobProgress);
      await this.#discardRotation();
      const now = this.o.now();
      const firstTimeOut = firstTime ? await firstTimeKeysPath(this.o.workDir, (backend as { client?: { factory?: string } }).client?.factory ?? 'factory', now) : undefined;
      const keys = held;
      // One ceremony at a time per work folder: one with saved keys is abandoned only when asked by id.
      const ceremony = await startCeremony(this.#store, backend, {
        who: 'server',
        now: this.o.now,
        ...(this.o.env ? { env: this.o.env } : {}),
        changes: [{ op: 'rotate-key', role: 'root', keyType: body.keyType }],
        ...(body.abandon !== undefined ? { abandon: body.abandon } : {}),
        inputKeys: (current) => (heldKeysForRole(keys.ring, current).size > 0 ? { source: 'the uploaded key archive', sha256: keys.archive.sha256 } : undefined),
      });
      this.#ceremony = ceremony;
      let prep: PreparedRotation;
      try {
        prep = await prepareRotation(
        backend,
        keys.ring,
        {
          ...(firstTimeOut !== undefined ? { firstTimeOut } : {}),
          keyType: body.keyType,
          now,
          ...(body.changelog !== undefined ? { changelog: body.changelog } : {}),
          ...(body.expiresDays !== undefined ? { expiresDays: body.expiresDays } : {}),
          ...(body.allowExpired !== undefined ? { allowExpired: body.allowExpired } : {}), // #13 expired-root override
          ...(body.newTokenKey !== undefined ? { newTokenKey: newTokenKeyOption(body.newTokenKey, this.o.env ?? {}) } : {}),
        },
        progress,
        );
      } catch (e) {
        await ceremony.transition('cancelled', 'plan failed', { reason: e instanceof AppError ? e.message : 'the plan step failed; nothing was published' }).catch(() => undefined);
        throw e;
      }
      const inputKeys = firstTimeOut !== undefined ? { source: FIRST_TIME_SOURCE, path: firstTimeOut } : { source: 'the uploaded key archive', sha256: keys.archive.sha256 };
      await recordPlanned(ceremony, prep, backend, { inputKeys });
      if (firstTime) this.#archive = { archive: keys.ring.archive ?? keys.archive, ring: keys.ring }; // the first root key, as if uploaded
      this.#prep = prep;
      this.#plan = planView(prep, keys.ring, await userDirectoryOf(backend));
      this.#times = { planned: now.toISOString() };
      return { plan: this.#plan };
    });
  }

  startSign(): Job {
    this.#idle();
    this.#notPublished();
    const prep = this.#prep;
    if (!prep) throw state('There is no rotation plan to sign.', 'Run the plan step first.');
    const ceremony = this.#ceremony;
    return this.jobs.start('sign', async (jobProgress) => {
      const signed = await signAndVerify(prep, this.#progress(jobProgress));
      if (ceremony && signed.report.ok) await recordSigned(ceremony, prep, signed);
      this.#signed = signed;
      this.#sign = signView(signed);
      this.#times.signed = this.o.now().toISOString();
      return { sign: this.#sign };
    });
  }

  startSave(body: SaveBody): Job {
    this.#idle();
    this.#notPublished();
    const prep = this.#prep;
    const signed = this.#signed;
    const held = this.#archive;
    if (!prep || !signed || !held) throw state('There is no signed new root yet.', 'Run the plan and sign steps first.');
    if (!signed.report.ok) {
      throw new AppError('VERIFY_FAILED', 'The new root did not pass verification, so no archive is written for it.', 'See the failing rules of the sign step; plan again.');
    }
    const ceremony = this.#ceremony;
    if (!ceremony || (ceremony.state !== 'signed' && ceremony.state !== 'keys-saved')) throw state('The work folder\'s ceremony is not at the save step.', 'Reload the page: another tab or the command line may have changed it.');
    // Invariant 2: a new path by default (never over another ceremony's archive); an existing file only with overwrite (and then a backup).
    const version = signed.root.version;
    return this.jobs.start('save', async (jobProgress) => {
      const progress = this.#progress(jobProgress);
      let out = path.resolve(this.o.workDir, body.path ?? `offline-keys-v${version}.tgz`);
      const copy = ceremony.state === 'keys-saved';
      if (!copy && body.path === undefined && (await exists(out))) out = path.join(this.o.workDir, `offline-keys-v${version}-${ceremony.id}.tgz`);
      const saved = await saveArchive(prep, held.ring, out, { overwrite: body.overwrite ?? false }, progress);
      // Invariant 1: the ceremony says where the new key is (proven) before any publish.
      progress('journal', 'Recording the saved archive in the ceremony');
      if (copy) await ceremony.update('another copy of the new key archive saved and proven', {}, { path: saved.path, sha256: saved.sha256 });
      else await recordSaved(ceremony, saved, this.o.now());
      this.#saved ??= saved;
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
    return this.#publishCeremony(this.#ceremony, this.#prep !== undefined && this.#signed !== undefined);
  }

  /** Recovery: publishes the saved root of the work folder's current ceremony (reconciled first). */
  startRecoveryPublish(): Job {
    this.#idle();
    const c = this.#ceremony;
    if (!c || c.state !== 'keys-saved') {
      throw state('There is no saved-but-unpublished rotation to publish.', 'See the recovery state in GET /api/session.');
    }
    return this.#publishCeremony(c);
  }

  /** The backend of the ceremony's target: this server's target when it is the same one, else one made from the ceremony. */
  async #backendOf(c: Ceremony): Promise<Backend> {
    const ref = this.#target ? refOf(this.#target) : undefined;
    const same = ref !== undefined && (sameTarget(ref, c.data.target.ref) || (ref.kind === 'practice' && c.data.target.ref.kind === 'practice' && ref.factory === c.data.target.ref.factory));
    const backend = this.#target && same ? this.#target : await backendFromRef(c.data.target.ref, this.o.env ? { env: this.o.env } : {});
    if (!backend) throw new AppError('TARGET_NOT_CONFIGURED', `Cannot reach ${c.data.target.description} from this server.`, `Choose ${c.data.target.description} as the target, then try again.`);
    return backend;
  }

  /** Cancels the ceremony's open Factory transaction (nothing applied), then reads the state back. */
  async cancelCeremony(): Promise<RecoveryInfo> {
    this.#idle();
    const opened = await this.open();
    const c = opened?.ceremony;
    if (!c || (c.data.target.kind !== 'factory' && c.data.target.kind !== 'practice')) {
      throw state('There is no Factory transaction of this work folder\'s ceremony to cancel.', 'See the ceremony in GET /api/session.');
    }
    const backend = await this.#backendOf(c);
    const { FoundriesBackend, cancelFactory } = await import('./backends/foundries.js');
    if (!(backend instanceof FoundriesBackend)) throw state('The ceremony\'s target is not a Factory.', 'See the ceremony in GET /api/session.');
    const r = await cancelFactory(backend.client);
    await this.#discardRotation();
    if (c.state === 'draft' || c.state === 'staged' || c.state === 'signed' || c.state === 'keys-saved') {
      await c.transition('cancelled', 'Factory transaction cancelled from the page', { reason: r.message });
    }
    return this.#recovery(await this.open());
  }

  /** Re-runs apply after a partial apply, until both chains are published. */
  startReapply(): Job {
    this.#idle();
    const c = this.#ceremony;
    if (!c || c.state !== 'partly-applied') throw state('The work folder\'s ceremony is not partly applied.', 'See the ceremony in GET /api/session.');
    return this.jobs.start('publish', async (jobProgress) => {
      const progress = this.#progress(jobProgress);
      const backend = await this.#backendOf(c);
      const { FoundriesBackend, applyFactory } = await import('./backends/foundries.js');
      if (!(backend instanceof FoundriesBackend)) throw state('The ceremony\'s target is not a Factory.', 'See the ceremony in GET /api/session.');
      progress('publish', `Re-running apply on ${backend.description}`);
      const r = await applyFactory(backend.client, { now: this.o.now(), ...(c.data.txid !== undefined ? { txid: c.data.txid } : {}), onStep: (s) => progress(s) });
      if (r.outcome !== 'published') throw new AppError('TARGET_CONFLICT', `Nothing was applied on ${backend.description}.`, 'Read the state again: GET /api/session.');
      await this.open();
      this.#published = { location: backend.description, version: r.version, verify: r.verify.ci, report: r.verify.ci };
      return { publish: { location: backend.description, version: r.version, verify: r.verify.ci } };
    });
  }

  #publishCeremony(c: Ceremony, live = false): Job {
    return this.jobs.start('publish', async (jobProgress) => {
      const progress = this.#progress(jobProgress);
      const backend = await this.#backendOf(c);
      const now = this.o.now();
      const result = await publishSaved(c, backend, now, progress, live && backend === this.#target);
      this.#current = this.#target === backend ? result.readBack : this.#current;
      this.#published = { location: result.location, version: result.readBack.version, verify: result.report, report: result.report };
      this.#times.published = now.toISOString();
      return { publish: { location: result.location, version: result.readBack.version, verify: result.report } };
    });
  }

  // -------------------------------------------------------------------------------------------

  #step(): SessionState['step'] {
    if (!this.#target) return 'target';
    if (!this.#archive && this.#target.firstTime !== true) return 'keys';
    if (this.#published) return 'done';
    if (!this.#prep) return 'plan';
    if (!this.#signed || !this.#signed.report.ok) return 'sign';
    if (!this.#saved) return 'save';
    return 'publish';
  }

  /** A FoundriesFactory target; the token (from the body, a file, FIOCTL_TOKEN or fioctl's config) stays in the client only. */
  #factoryBackend(body: Extract<TargetBody, { kind: 'factory' }>): Backend {
    const env = this.o.env ?? {};
    const token =
      body.token ??
      loadToken({
        ...(body.tokenFile !== undefined ? { tokenFile: path.resolve(this.o.workDir, body.tokenFile) } : {}),
        env,
        ...(env['HOME'] !== undefined ? { home: env['HOME'] } : {}),
      });
    const apiUrl = body.apiUrl ?? DEFAULT_API_URL;
    const client = new FoundriesClient({ apiUrl, factory: body.factory, token });
    const loopback = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/.test(apiUrl);
    return new FoundriesBackend(client, { practice: loopback, firstTime: body.firstTime === true });
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
    if (this.#prep && !this.#published) await this.#target?.abort();
    const c = this.#ceremony;
    if (this.#prep && c && (c.state === 'draft' || c.state === 'staged' || c.state === 'signed')) {
      await c.transition('cancelled', 'discarded in the page', { reason: 'the plan was discarded before any key was saved; nothing was published' }).catch(() => undefined);
    }
    this.#prep = undefined;
    this.#plan = undefined;
    this.#signed = undefined;
    this.#sign = undefined;
    this.#saved = undefined;
  }
}
