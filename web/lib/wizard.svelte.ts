/**
 * The wizard's state: which step is shown, what the server has told us so far, the running job and
 * the last error of each step. The only caller of lib/api.ts; shared with the steps via context.
 */
import { createContext } from 'svelte';
import type {
  ArchiveReply,
  CeremonyRecord,
  ChangesPreviewReply,
  Job,
  PlanBody,
  PlanResult,
  PublishResultReply,
  RecoveryInfo,
  RootHistory,
  RootSummary,
  SaveBody,
  SaveResult,
  SessionState,
  SignResult,
  TargetInfo,
  TokenKeyReply,
  PemKeyReply,
} from '../../shared/api.js';
import {
  addPemKey,
  addTokenKey,
  downloadNewArchive,
  getExpiryCalendar,
  getNewRoot,
  getRecord,
  getRoot,
  getRootHistory,
  getSession,
  previewChanges,
  setTarget,
  startPlan,
  startPublish,
  startRecoveryPublish,
  startReapply,
  cancelCeremony,
  startSave,
  startSign,
  uploadArchive,
  lendArchive,
} from '../../shared/api.js';
import { ApiFailure, call, download, toFailure, token, upload, waitForJob } from './api.js';
import type { AskedChange, ChangesPlan, DocumentView } from './changes.js';

/** The body of POST /api/target (shared/api.ts `setTarget`), spelled out: FromSchema of its oneOf is too deep for the web checker. */
export type TargetBody =
  | { kind: 'practice' | 'practice-factory' }
  | { kind: 'repo'; dir: string }
  | { kind: 'offline'; root: Record<string, unknown> }
  | { kind: 'factory'; factory: string; apiUrl?: string; token?: string; tokenFile?: string; firstTime?: boolean };


export const STEPS = [
  { id: 'target', label: 'Target' },
  { id: 'keys', label: 'Keys' },
  { id: 'root', label: 'Current root' },
  { id: 'plan', label: 'Plan' },
  { id: 'diff', label: 'Diff' },
  { id: 'sign', label: 'Sign & verify' },
  { id: 'save', label: 'Save keys' },
  { id: 'publish', label: 'Publish' },
  { id: 'record', label: 'Record' },
] as const;

export type StepId = (typeof STEPS)[number]['id'];

/** Where the server's `session.step` (the next thing to do) puts the user on resume. */
const RESUME: Record<SessionState['step'], StepId> = {
  target: 'target',
  keys: 'keys',
  plan: 'plan',
  sign: 'diff',
  save: 'save',
  publish: 'publish',
  done: 'record',
};

export class Wizard {
  #step = $state<StepId>('target');
  #loading = $state(true);
  #target = $state.raw<TargetInfo | null>(null);
  #root = $state.raw<RootSummary | null>(null);
  #history = $state.raw<RootHistory | null>(null);
  #archive = $state.raw<ArchiveReply | null>(null);
  #plan = $state.raw<PlanResult | null>(null);
  #sign = $state.raw<SignResult | null>(null);
  #save = $state.raw<SaveResult | null>(null);
  #publish = $state.raw<PublishResultReply | null>(null);
  #record = $state.raw<CeremonyRecord | null>(null);
  #recovery = $state.raw<RecoveryInfo | null>(null);
  #work = $state<string | null>(null);
  #startKind = $state<'practice' | 'repo' | 'offline' | 'factory' | null>(null);
  /** Asks before an action that cannot be undone (window.confirm; the browser test answers it). */
  confirm: (question: string) => boolean = (q) => window.confirm(q);
  #changes = $state.raw<ChangesPreviewReply | null>(null);
  #job = $state.raw<Job | null>(null);
  #busy = $state(false);
  #errors = $state.raw<Partial<Record<StepId | 'app', ApiFailure>>>({});
  /** Bumped when an action ends on the same step, so the page moves focus back to its heading. */
  #focusRequest = $state(0);

  get step(): StepId {
    return this.#step;
  }
  get loading(): boolean {
    return this.#loading;
  }
  get target(): TargetInfo | null {
    return this.#target;
  }
  get root(): RootSummary | null {
    return this.#root;
  }
  get history(): RootHistory | null {
    return this.#history;
  }
  get archive(): ArchiveReply | null {
    return this.#archive;
  }
  get plan(): PlanResult | null {
    return this.#plan;
  }
  get signed(): SignResult | null {
    return this.#sign;
  }
  get saved(): SaveResult | null {
    return this.#save;
  }
  get published(): PublishResultReply | null {
    return this.#publish;
  }
  get record(): CeremonyRecord | null {
    return this.#record;
  }
  get recovery(): RecoveryInfo | null {
    return this.#recovery;
  }
  /** The server's work folder (ceremonies and new key archives). */
  /** The target kind the Target step preselects (`serve --offline`: "offline"). */
  get startKind(): 'practice' | 'repo' | 'offline' | 'factory' | null {
    return this.#startKind;
  }

  get work(): string | null {
    return this.#work;
  }
  get changesPreview(): ChangesPreviewReply | null {
    return this.#changes;
  }
  /** Several key changes: the plan's roles before/after, documents and who signs (absent for the root-key rotation). */
  get changesPlan(): ChangesPlan | null {
    return (this.#plan as { changes?: ChangesPlan } | null)?.changes ?? null;
  }
  /** Several key changes: every signed document of the proposal, after the sign step. */
  get signedDocuments(): DocumentView[] | null {
    return (this.#sign as { documents?: DocumentView[] } | null)?.documents ?? null;
  }
  /** Several key changes: what publish published, by document name. */
  get publishedDocuments(): string[] | null {
    return (this.#publish as { published?: string[] } | null)?.published ?? null;
  }
  get job(): Job | null {
    return this.#job;
  }
  get focusRequest(): number {
    return this.#focusRequest;
  }
  get busy(): boolean {
    return this.#busy;
  }
  get hasToken(): boolean {
    return token() !== null;
  }
  error(step: StepId | 'app'): ApiFailure | undefined {
    return this.#errors[step];
  }

  /** A step is reachable only when what it needs is there. */
  reachable(id: StepId): boolean {
    switch (id) {
      case 'target':
        return true;
      case 'keys':
      case 'root':
        return this.#target !== null;
      case 'plan':
        // A first-time Factory rotation needs no upload: the Factory hands over its first root key.
        return this.#target !== null && (this.#archive !== null || this.#target.firstTime === true) && !this.#publish;
      case 'diff':
        return this.#plan !== null;
      case 'sign':
        return this.#plan !== null;
      case 'save':
        return this.#sign?.verify.ok === true;
      case 'publish':
        return this.#sign?.verify.ok === true && this.#save !== null;
      case 'record':
        return this.#sign !== null;
    }
  }

  goto(id: StepId): void {
    if (this.reachable(id)) this.#step = id;
  }

  next(): void {
    const i = STEPS.findIndex((s) => s.id === this.#step);
    const n = STEPS[i + 1];
    if (n) this.goto(n.id);
  }

  #setError(step: StepId | 'app', e: ApiFailure | undefined): void {
    const errors = { ...this.#errors };
    if (e) errors[step] = e;
    else delete errors[step];
    this.#errors = errors;
  }

  /** Runs one action of a step: one at a time, its error kept beside the step. */
  async #run<T>(step: StepId, fn: () => Promise<T>): Promise<T | undefined> {
    if (this.#busy) return undefined;
    this.#busy = true;
    this.#setError(step, undefined);
    try {
      return await fn();
    } catch (e) {
      this.#setError(step, toFailure(e));
      return undefined;
    } finally {
      this.#busy = false;
      // The button or file input that started the action was disabled while it ran, so focus fell to
      // <body>: put it back on the step's heading (App.svelte), after the result is on screen.
      this.#focusRequest++;
    }
  }

  async #runJob(start: () => Promise<{ jobId: string }>): Promise<Job> {
    this.#job = null;
    const { jobId } = await start();
    return waitForJob(jobId, (j) => (this.#job = j));
  }

  /** On load: resume the server's session. */
  async load(): Promise<void> {
    if (!this.hasToken) {
      this.#loading = false;
      return;
    }
    try {
      const s = await call<SessionState>(getSession);
      this.#target = s.target ?? null;
      this.#archive = s.archive ?? null;
      this.#plan = s.plan ?? null;
      this.#sign = s.sign ?? null;
      this.#save = s.save ?? null;
      this.#publish = s.publish ?? null;
      this.#work = s.work;
      this.#startKind = s.startKind ?? null;
      // The work folder's ceremony, as the server reconciled it with the target on this read.
      this.#recovery = s.recovery && s.recovery.state !== 'none' ? s.recovery : null;
      // A job still running (a reload during a step): follow it, then read the session again.
      if (s.busyJobId !== undefined) void this.#follow(s.busyJobId);
      if (this.#target) await this.#loadRoot();
      if (this.#publish) await this.#loadRecord();
      const resume = RESUME[s.step];
      this.#step = resume === 'target' && this.#target ? 'keys' : resume;
    } catch (e) {
      this.#setError('app', toFailure(e));
    } finally {
      this.#loading = false;
    }
  }

  async #follow(jobId: string): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      await waitForJob(jobId, (j) => (this.#job = j));
    } catch (e) {
      this.#setError('app', toFailure(e));
    } finally {
      this.#busy = false;
    }
    await this.load();
  }

  async #loadRoot(): Promise<void> {
    this.#root = await call<RootSummary>(getRoot);
    try {
      this.#history = await call<RootHistory>(getRootHistory);
    } catch {
      this.#history = null; // not every target has a history
    }
  }

  async #loadRecord(): Promise<void> {
    this.#record = await call<CeremonyRecord>(getRecord);
  }

  #resetFrom(what: 'target' | 'archive' | 'plan'): void {
    if (what === 'target') this.#archive = null;
    this.#plan = null;
    this.#sign = null;
    this.#save = null;
    this.#publish = null;
    this.#record = null;
    this.#job = null;
  }

  async chooseTarget(body: TargetBody): Promise<void> {
    await this.#run('target', async () => {
      const r = await call<{ target: TargetInfo; root: RootSummary }>(setTarget, body);
      this.#target = r.target;
      this.#root = r.root;
      this.#resetFrom('target');
      // The server keeps an uploaded archive across targets; ask it.
      const s = await call<SessionState>(getSession);
      this.#archive = s.archive ?? null;
      try {
        this.#history = await call<RootHistory>(getRootHistory);
      } catch {
        this.#history = null;
      }
      this.#step = 'keys';
    });
  }

  async uploadArchive(file: File): Promise<void> {
    await this.#run('keys', async () => {
      // A refused upload must not leave the previous archive's keys on screen.
      this.#archive = null;
      this.#resetFrom('archive');
      this.#archive = await upload<ArchiveReply>(uploadArchive, file);
      this.#root = await call<RootSummary>(getRoot);
    });
  }

  /** Another key archive lends its keys (e.g. the targets keys in their own file); the new archive copies the first. */
  async lendArchive(file: File): Promise<boolean> {
    const r = await this.#run('keys', async () => {
      const reply = await upload<ArchiveReply>(lendArchive, file);
      this.#archive = reply;
      this.#resetFrom('archive');
      this.#root = await call<RootSummary>(getRoot);
      return true;
    });
    return r === true;
  }

  /** A key in a hardware token joins the keys; the PIN goes to the local server for C_Login only. */
  async addTokenKey(body: { module?: string; token: string; key: string; pin: string }): Promise<TokenKeyReply | undefined> {
    return this.#run('keys', async () => {
      const r = await call<TokenKeyReply>(addTokenKey, body);
      this.#archive = { archive: r.archive, ...(r.rootKeys ? { rootKeys: r.rootKeys } : {}) };
      this.#resetFrom('archive');
      this.#root = await call<RootSummary>(getRoot);
      return r;
    });
  }

  /** A PEM private key file joins the keys (read in memory by the local server, like the archive). */
  async addPemKey(pem: string, name: string): Promise<PemKeyReply | undefined> {
    return this.#run('keys', async () => {
      const r = await call<PemKeyReply>(addPemKey, { pem, name });
      this.#archive = { archive: r.archive, ...(r.rootKeys ? { rootKeys: r.rootKeys } : {}) };
      this.#resetFrom('archive');
      this.#root = await call<RootSummary>(getRoot);
      return r;
    });
  }

  /** Plans the root-key rotation, or, with `changes`, several key changes in one new version (run through sign, save, publish like it). */
  async makePlan(body: PlanBody & { changes?: AskedChange[] }): Promise<void> {
    // A new ceremony over one whose keys are saved abandons them: ask first, saying what is abandoned.
    const r = this.#recovery;
    if (r?.state === 'keys-saved' && r.ceremony !== undefined) {
      const ok = this.confirm(
        `Start a new ceremony? This abandons ceremony ${r.ceremony}: its new key archive ${r.newArchive ?? ''} for root version ${r.newVersion ?? '?'} of ${r.target?.description ?? 'the target'} was saved but never published, and will never be valid.`,
      );
      if (!ok) return;
      body = { ...body, abandon: r.ceremony };
    }
    await this.#run('plan', async () => {
      const job = await this.#runJob(() => call<{ jobId: string }>(startPlan, body));
      this.#resetFrom('plan');
      this.#plan = job.result?.plan ?? null;
      this.#step = 'diff';
    });
  }

  /** Several key changes, previewed by the server with throwaway keys (nothing is written). */
  async previewChanges(changes: AskedChange[], keyType: 'ed25519' | 'rsa' | 'ecdsa'): Promise<void> {
    await this.#run('plan', async () => {
      this.#changes = null;
      this.#changes = await call<ChangesPreviewReply>(previewChanges, { changes, keyType });
    });
  }

  async signAndVerify(): Promise<void> {
    await this.#run('sign', async () => {
      const job = await this.#runJob(() => call<{ jobId: string }>(startSign, {}));
      this.#sign = job.result?.sign ?? null;
      this.#save = null;
    });
  }

  async saveKeys(body: SaveBody): Promise<void> {
    await this.#run('save', async () => {
      const job = await this.#runJob(() => call<{ jobId: string }>(startSave, body));
      this.#save = job.result?.save ?? null;
    });
  }

  /** The saved archive as a Blob (a plain link cannot carry the Bearer header). */
  async downloadArchive(): Promise<Blob | undefined> {
    return this.#run('save', () => download(downloadNewArchive));
  }

  /** Reminders of the target's root expiries, as an iCalendar Blob (GET /api/root/expiry.ics). */
  async downloadExpiryCalendar(): Promise<Blob | undefined> {
    return this.#run('root', () => download(getExpiryCalendar));
  }

  /** The signed new root file (GET /api/root/new) as a Blob, for the Publish step's download. */
  async downloadNewRoot(): Promise<Blob | undefined> {
    return this.#run('publish', () => download(getNewRoot));
  }

  async publishRoot(): Promise<void> {
    if (!this.confirm(`Publish root version ${this.#sign?.version ?? '?'} to ${this.#target?.description ?? 'the target'}? Devices will trust it from their next update.`)) return;
    await this.#run('publish', async () => {
      const job = await this.#afterFailedPublish(() => this.#runJob(() => call<{ jobId: string }>(startPublish, {})));
      this.#publish = job.result?.publish ?? null;
      await this.#loadRecord();
      await this.#afterPublish();
    });
  }

  /** Recovery: publishes the saved root of the work folder's ceremony (keys saved, not published). */
  async publishSaved(): Promise<void> {
    const r = this.#recovery;
    if (!r) return;
    if (!this.confirm(`Publish the saved root version ${r.newVersion ?? '?'} to ${r.target?.description ?? 'the target'}? Devices will trust it from their next update.`)) return;
    await this.#run('publish', async () => {
      const job = await this.#runJob(() => call<{ jobId: string }>(startRecoveryPublish, {}));
      this.#publish = job.result?.publish ?? null;
      await this.#afterPublish();
    });
  }

  /** A change run whose root is published but whose re-signed metadata is not (interrupted in between): write it. */
  async finishMetadata(): Promise<void> {
    const r = this.#recovery;
    if (!r) return;
    if (!this.confirm(`Write the re-signed metadata of version ${r.newVersion ?? '?'} to ${r.target?.description ?? 'the repository'}? Clients need it to update their targets under the new root.`)) return;
    await this.#run('publish', async () => {
      const job = await this.#runJob(() => call<{ jobId: string }>(startRecoveryPublish, {}));
      this.#publish = job.result?.publish ?? null;
      await this.#afterPublish();
    });
  }

  /** A partly applied Factory ceremony: re-run apply until both chains are published. */
  async reapply(): Promise<void> {
    const r = this.#recovery;
    if (!r) return;
    if (!this.confirm(`Re-run apply on ${r.target?.description ?? 'the Factory'} to publish root version ${r.newVersion ?? '?'} on both chains?`)) return;
    await this.#run('publish', async () => {
      const job = await this.#afterFailedPublish(() => this.#runJob(() => call<{ jobId: string }>(startReapply, {})));
      this.#publish = job.result?.publish ?? null;
      await this.#afterPublish();
    });
  }

  /** Cancel the ceremony's open Factory transaction (nothing is applied). */
  async cancelTransaction(): Promise<void> {
    const r = this.#recovery;
    if (!r) return;
    const saved = r.newArchive !== undefined ? ` The new key archive ${r.newArchive} will never be valid.` : '';
    if (!this.confirm(`Cancel the open TUF root updates on ${r.target?.description ?? 'the Factory'}? Nothing is applied.${saved}`)) return;
    await this.#run('publish', async () => {
      this.#recovery = await call<RecoveryInfo>(cancelCeremony, {});
      this.#resetFrom('plan');
    });
  }

  /** A publish that failed may have changed the target (a partial apply): show the ceremony as reconciled, then the error. */
  async #afterFailedPublish<T>(publish: () => Promise<T>): Promise<T> {
    try {
      return await publish();
    } catch (e) {
      await this.#afterPublish().catch(() => undefined);
      throw e;
    }
  }

  /** After a publish: the Current root and the ceremony's state as the target now serves them. */
  async #afterPublish(): Promise<void> {
    const s = await call<SessionState>(getSession);
    this.#recovery = s.recovery && s.recovery.state !== 'none' ? s.recovery : null;
    if (this.#target) await this.#loadRoot();
  }

  async loadRecord(): Promise<void> {
    await this.#run('record', () => this.#loadRecord());
  }
}

export const [getWizard, setWizard] = createContext<Wizard>();
