/**
 * The one rotation session the server holds in memory: target → key archive → plan → sign →
 * save → publish → record. Every step calls the ceremony core (ceremony.ts), exactly as the CLI
 * does. The uploaded archive and every private key stay in this object; what leaves it goes
 * through views.ts and the reply schemas.
 */
import path from 'node:path';
import type { CeremonyRecord, Job, PublishResultReply, RootHistory, RootSummary, SaveBody, SessionState, TargetBody, TargetInfo, PlanBody, ArchiveReply, PlanResult, SignResult } from '../shared/api.js';
import { readKeyArchive } from './archive/read.js';
import type { KeyArchive } from './archive/read.js';
import type { Backend } from './backends/backend.js';
import { FoundriesBackend } from './backends/foundries.js';
import { DEFAULT_API_URL, FoundriesClient, loadToken } from './backends/foundries-client.js';
import { LocalRepoBackend } from './backends/local-repo.js';
import { OfflineBackend } from './backends/offline.js';
import { prepareRotation, publishRotation, saveArchive, signAndVerify } from './ceremony.js';
import type { PreparedRotation, SavedArchive, SignedRotation } from './ceremony.js';
import { AppError } from './errors.js';
import type { Jobs } from './jobs.js';
import { readJournal, recoveryOf, withStep, writeJournal } from './journal.js';
import type { Journal } from './journal.js';
import { closeKeyRing, emptyArchive, keyRingFromArchive } from './keyring.js';
import type { HeldKey, KeyRing } from './keyring.js';
import type { TokenKeyReply } from '../shared/api.js';
import { formatPkcs11Uri } from './signers/pkcs11-uri.js';
import { parseRoot } from './tuf/metadata.js';
import type { JsonObject } from './tuf/json.js';
import type { Root, RootDocument } from './tuf/model.js';
import { readFileLimited, sha256Hex } from './util/fs-atomic.js';
import { archiveView, historyView, planView, rootKeysHeld, rootSummary, signedSha256, signView } from './views.js';

export interface SessionOptions {
  /** Where new archives (and an offline target's new root) are written by default. */
  workDir: string;
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
  #archive: { archive: KeyArchive; ring: KeyRing } | undefined;
  #prep: PreparedRotation | undefined;
  #plan: PlanResult | undefined;
  #signed: SignedRotation | undefined;
  #sign: SignResult | undefined;
  #saved: SavedArchive | undefined;
  #published: (PublishResultReply & { report: SignedRotation['report'] }) | undefined;
  #times: CeremonyRecord['times'] = {};
  /** The work folder's journal (invariant 7): read on start, written at save and publish. */
  #journal: Journal | undefined;

  constructor(
    private readonly o: SessionOptions,
    private readonly jobs: Jobs,
    initialTarget?: Backend,
  ) {
    this.#target = initialTarget;
  }

  /** Reads the work folder's journal (on server start). */
  async loadJournal(): Promise<void> {
    this.#journal = await readJournal(this.o.workDir);
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  async state(): Promise<SessionState> {
    const busy = this.jobs.running();
    const out: SessionState = { step: this.#step(), published: this.#published !== undefined };
    if (busy) out.busyJobId = busy.id;
    if (this.#target) out.target = this.#targetInfo(this.#target);
    if (this.#archive) out.archive = archiveView(this.#archive.archive, this.#archive.ring, await this.#currentOrUndefined());
    if (this.#plan) out.plan = this.#plan;
    if (this.#sign) out.sign = this.#sign;
    if (this.#saved) out.save = { path: this.#saved.path, sha256: this.#saved.sha256, bytes: this.#saved.bytes };
    if (this.#published) out.publish = { location: this.#published.location, version: this.#published.version, verify: this.#published.verify };
    out.recovery = recoveryOf(this.#journal);
    return out;
  }

  async root(): Promise<RootSummary> {
    return rootSummary(await this.#currentRoot(true), this.#archive?.ring, this.o.now());
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
    const saved = this.#saved;
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
    return { target: this.#targetInfo(backend), root: rootSummary(current, this.#archive?.ring, this.o.now()) };
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

  startPlan(body: PlanBody): Job {
    this.#idle();
    this.#notPublished();
    const backend = this.#backend();
    const held = this.#archive;
    if (!held) throw state('No key archive has been uploaded.', 'Upload the key archive (.tgz) first.');
    return this.jobs.start('plan', async (progress) => {
      await this.#discardRotation();
      const now = this.o.now();
      const prep = await prepareRotation(
        backend,
        held.ring,
        {
          keyType: body.keyType,
          now,
          ...(body.changelog !== undefined ? { changelog: body.changelog } : {}),
          ...(body.expiresDays !== undefined ? { expiresDays: body.expiresDays } : {}),
          ...(body.allowExpired !== undefined ? { allowExpired: body.allowExpired } : {}), // #13 expired-root override
        },
        progress,
      );
      this.#prep = prep;
      this.#plan = planView(prep, held.ring);
      this.#times = { planned: now.toISOString() };
      return { plan: this.#plan };
    });
  }

  startSign(): Job {
    this.#idle();
    this.#notPublished();
    const prep = this.#prep;
    if (!prep) throw state('There is no rotation plan to sign.', 'Run the plan step first.');
    return this.jobs.start('sign', async (progress) => {
      const signed = await signAndVerify(prep, progress);
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
    // Invariant 2: a new path by default; an existing file only with overwrite (and then a backup).
    const out = path.resolve(this.o.workDir, body.path ?? `offline-keys-v${signed.root.version}.tgz`);
    return this.jobs.start('save', async (progress) => {
      const saved = await saveArchive(prep, held.ring, out, { overwrite: body.overwrite ?? false }, progress);
      // Invariant 7: the journal says the keys are saved (with the public signed root) before any publish.
      progress('journal', 'Recording the saved archive in the ceremony journal');
      const planned: Journal = {
        format: 1,
        step: 'planned',
        steps: [{ step: 'planned', at: prep.now.toISOString() }],
        target: this.#targetInfo(this.#backend()),
        oldVersion: prep.current.version,
        newVersion: signed.root.version,
        newKeyId: prep.plan.newKeyId,
        oldRoot: { signed: prep.current.signedJson, signatures: prep.current.signatures.map((x) => x.json) },
        signedRoot: signed.document,
        ...(signed.prod ? { prodRoot: signed.prod } : {}),
        ...(prep.expiredOverride ? { allowExpired: prep.expiredOverride } : {}), // #13 expired-root override
      };
      const journal = withStep(planned, 'saved', this.o.now(), { archive: { path: saved.path, sha256: saved.sha256 } });
      await writeJournal(this.o.workDir, journal);
      this.#journal = journal;
      this.#saved = saved;
      this.#times.saved = this.o.now().toISOString();
      return { save: { path: saved.path, sha256: saved.sha256, bytes: saved.bytes } };
    });
  }

  startPublish(): Job {
    this.#idle();
    this.#notPublished();
    const prep = this.#prep;
    const signed = this.#signed;
    // Invariants 1 and 4: publish only a verified root, and only once its keys are safe on disk.
    if (!prep || !signed || !signed.report.ok || !this.#saved) {
      throw new AppError(
        'PUBLISH_BEFORE_SAVE',
        'The new root cannot be published before it is signed, verified and the new key archive is saved.',
        'Run the sign step, then save the new key archive; publish after that.',
      );
    }
    const backend = this.#backend();
    return this.jobs.start('publish', async (progress) => {
      progress('check', 'Checking the saved key archive is unchanged on disk');
      await this.newArchive();
      const now = this.o.now();
      const result = await publishRotation(backend, prep.current, signed, now, progress);
      this.#current = result.readBack;
      this.#published = { location: result.location, version: result.readBack.version, verify: result.report, report: result.report };
      this.#times.published = now.toISOString();
      await this.#journalPublished(result.location, result.readBack.version);
      return { publish: { location: result.location, version: result.readBack.version, verify: result.report } };
    });
  }

  /**
   * Recovery (invariant 7): publishes the signed root the journal kept from a run that saved the
   * new keys but never published, to the current target, after checking the saved archive is intact.
   */
  startRecoveryPublish(): Job {
    this.#idle();
    const j = this.#journal;
    if (!j || j.step !== 'saved' || !j.signedRoot || !j.oldRoot || !j.archive) {
      throw state('There is no saved-but-unpublished rotation to publish.', 'See the recovery state in GET /api/session.');
    }
    const backend = this.#backend();
    const archive = j.archive;
    const signedRoot = j.signedRoot;
    const prodRoot = j.prodRoot;
    const trusted = parseRoot(j.oldRoot as unknown as JsonObject, 'the journal\'s old root');
    return this.jobs.start('publish', async (progress) => {
      progress('check', 'Checking the saved key archive is unchanged on disk');
      const bytes = await readFileLimited(archive.path, NEW_ARCHIVE_LIMIT, 'key archive');
      if (sha256Hex(bytes) !== archive.sha256) {
        throw new AppError('ARCHIVE_READBACK_FAILED', `${archive.path} changed after it was saved (its SHA-256 differs).`, 'Do not publish; find the archive as it was saved.');
      }
      const newRoot = parseRoot(signedRoot as unknown as JsonObject, 'the journal\'s signed root');
      const current = await backend.currentRoot();
      if (current.version !== trusted.version || signedSha256(current) !== signedSha256(trusted)) {
        throw new AppError(
          'TARGET_CONFLICT',
          `${backend.description} holds root version ${current.version}, not the version ${trusted.version} this rotation was signed against.`,
          'Check the target is the one the journal names; if it already serves the new root, nothing is left to do.',
        );
      }
      const now = this.o.now();
      const result = await publishRotation(backend, trusted, { document: signedRoot, prod: prodRoot }, now, progress);
      if (signedSha256(result.readBack) !== signedSha256(newRoot)) {
        throw new AppError('PUBLISH_FAILED', `${backend.description} serves a root other than the one tuf-rotate signed.`, 'Do not discard any key archive; compare the published root with the journal.');
      }
      this.#current = result.readBack;
      await this.#journalPublished(result.location, result.readBack.version);
      return { publish: { location: result.location, version: result.readBack.version, verify: result.report } };
    });
  }

  /** Journals a publish; a journal that cannot be written does not undo it (the target says it too). */
  async #journalPublished(location: string, version: number): Promise<void> {
    const j = this.#journal;
    if (!j || j.step !== 'saved') return;
    const next = withStep(j, 'published', this.o.now(), { published: { location, version } });
    this.#journal = next;
    await writeJournal(this.o.workDir, next).catch(() => undefined);
  }

  // -------------------------------------------------------------------------------------------

  #step(): SessionState['step'] {
    if (!this.#target) return 'target';
    if (!this.#archive) return 'keys';
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
    return new FoundriesBackend(client, { practice: loopback });
  }

  #targetInfo(b: Backend): TargetInfo {
    return { kind: b.kind, description: b.description };
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

  /** Drops a planned rotation (a Factory cancels its transaction); the saved archive, if any, stays on disk. */
  async #discardRotation(): Promise<void> {
    if (this.#prep && !this.#published) await this.#target?.abort();
    this.#prep = undefined;
    this.#plan = undefined;
    this.#signed = undefined;
    this.#sign = undefined;
    this.#saved = undefined;
  }
}
