import { createHash } from 'node:crypto';
import { AppError } from '../errors.js';
import { canonicalBytes } from '../tuf/canonical-json.js';
import { diffRoots } from '../tuf/diff.js';
import type { RootDiff } from '../tuf/diff.js';
import type { Root, RootDocument, VerifyReport } from '../tuf/model.js';
import { verifyRootUpdate } from '../tuf/verify.js';
import type { Backend, PublishResult, RotationBase, TargetKind } from './backend.js';
import { describeState } from './foundries-answers.js';
import { readUserDirectory } from './user-directory.js';
import type { FactoryState } from './foundries-types.js';
import type { FoundriesClient } from './foundries-client.js';

import { DEFAULT_CHANGELOG } from '../../shared/defaults.js';

/** fioctl's default changelog for a root key rotation (one constant for the page and the CLI). */
export { DEFAULT_CHANGELOG };

/**
 * A FoundriesFactory (real, or our practice factory on loopback) through the TUF root updates
 * transaction, like fioctl ≥ v0.30: init (shortcut) → read the staged root → PUT signed CI and
 * production roots → apply. Apply is never retried automatically; `publish` called again after a
 * partial apply re-runs apply instead of uploading again, and a transaction left open by a stopped
 * process is picked up with `resume(txid)`.
 */
export class FoundriesBackend implements Backend {
  readonly kind: TargetKind;
  readonly description: string;
  #txid: string | undefined;

  readonly #onStep: ((step: string) => void) | undefined;

  constructor(
    readonly client: FoundriesClient,
    opts: { practice?: boolean; firstTime?: boolean; onStep?: (step: string) => void } = {},
  ) {
    this.#onStep = opts.onStep;
    this.kind = opts.practice ? 'practice' : 'factory';
    this.firstTime = opts.firstTime ?? false;
    // "practice factory practice" said the name twice: the default practice factory is just that.
    this.description = opts.practice && client.factory === 'practice' ? 'practice factory' : `${opts.practice ? 'practice factory' : 'FoundriesFactory'} ${client.factory}`;
  }

  readonly firstTime: boolean;

  currentRoot(): Promise<Root> {
    return this.client.currentRoot();
  }

  history(): Promise<Root[]> {
    return this.client.history();
  }

  /** The txid of the transaction this backend began or resumed (keep it to resume after a restart). */
  get txid(): string | undefined {
    return this.#txid;
  }

  /** The Factory's state now (see `factoryState`). */
  state(): Promise<FactoryState> {
    return this.client.state(this.#txid);
  }

  async begin(changelog: string): Promise<RotationBase> {
    const message = changelog.trim() === '' ? DEFAULT_CHANGELOG : changelog;
    const init = await this.client.init({ message, firstTime: this.firstTime, shortcut: true });
    this.#txid = init.txid;
    try {
      return await this.#stagedBase(init);
    } catch (e) {
      await this.abort();
      throw e;
    }
  }

  /**
   * Picks up our own transaction after a restart, given the txid the caller kept: the staged root
   * to sign, as `begin` returns it. Refused when nothing is open; while APPLYING, `publish` re-runs apply.
   */
  async resume(txid: string): Promise<RotationBase> {
    const st = await this.client.state(txid);
    if (st.status === 'NONE') {
      throw new AppError('TARGET_CONFLICT', `No TUF root updates are open on ${this.client.factory} to resume. ${describeState(st)}`,
        'The transaction was applied or canceled meanwhile: read the state with `tuf-rotate review` and start again if needed.');
    }
    this.#txid = txid;
    return this.#stagedBase({});
  }

  async #stagedBase(init: { firstRootSec?: Uint8Array; firstRootPub?: Uint8Array }): Promise<RotationBase> {
    const updates = await this.client.updates();
    if (updates.status !== 'STARTED' || !updates.updated) {
      throw new AppError(
        'TARGET_CONFLICT',
        `${this.description} has no staged root to sign (status ${updates.status}).`,
        `Review the TUF root updates with \`tuf-rotate review --factory ${this.client.factory}\`; re-run apply with \`tuf-rotate publish --factory\` or cancel them.`,
      );
    }
    const self = await this.client.self();
    const base: RotationBase = { base: updates.updated.ciRoot, bumpVersion: false, polisId: self.polisId };
    const prodThreshold = updates.updated.prodRoot?.roles['targets']?.threshold;
    if (prodThreshold !== undefined) base.prodTargetsThreshold = prodThreshold;
    if (init.firstRootSec && init.firstRootPub) {
      base.firstTimeFiles = [
        { name: 'tufrepo/keys/first-root.pub', data: init.firstRootPub },
        { name: 'tufrepo/keys/first-root.sec', data: init.firstRootSec },
      ];
    }
    return base;
  }

  async publish(root: RootDocument, prod?: RootDocument): Promise<PublishResult> {
    if (!prod) {
      throw new AppError('INTERNAL', 'A Factory rotation needs the production root too.', 'Report this as a bug; nothing was published.');
    }
    const txid = this.#txid ?? '';
    // Read the state first: after a partial apply (APPLYING, or CI ahead of production) uploading
    // again would be refused; re-run apply instead. If the Factory already serves this root, done.
    const st = await this.client.state();
    const ours = signedDigest(root);
    if (st.status === 'NONE') {
      if (st.ci.signedSha256 !== ours || st.prod.version !== st.ci.version) {
        throw new AppError('TARGET_CONFLICT', `No TUF root updates are open on ${this.client.factory} to publish into. ${describeState(st)}`,
          'The transaction was canceled or replaced meanwhile. Start the rotation again from the key archive the Factory trusts.');
      }
    } else {
      if (st.status === 'STARTED') {
        await this.client.put({ txid, ciRoot: root, prodRoot: prod });
        this.#onStep?.('uploaded');
      } else if (st.staged?.ci.signedSha256 !== ours) {
        throw new AppError('TARGET_CONFLICT', `Other TUF root updates are being applied on ${this.client.factory}. ${describeState(st)}`,
          `Re-run their apply with \`tuf-rotate publish --factory ${this.client.factory}\`, then start again.`);
      }
      try {
        await this.client.apply(txid);
      } catch (e) {
        if (e instanceof AppError && e.code === 'TARGET_PARTIAL_APPLY') {
          throw new AppError(e.code, `${e.message} ${await this.client.stateSentence(st.ci.version)}`,
            `Publish again (or \`tuf-rotate publish --factory ${this.client.factory}\`) to re-run apply until both chains are published. Keep the new key archive: the Factory may already trust the new root key.`,
            { cause: e });
        }
        throw e;
      }
      this.#onStep?.('applied');
    }
    this.#txid = undefined;
    const readBack = await this.client.currentRoot();
    return { location: `${this.client.apiUrl} (factory ${this.client.factory})`, readBack };
  }

  async abort(): Promise<void> {
    if (this.#txid === undefined) return;
    this.#txid = undefined;
    await this.client.cancel().catch(() => undefined);
  }
}

// ------------------------------------------------------------------------------------------------
// The transaction's lifecycle, outside a running rotation (review, cancel, apply/re-apply, state)


/** SHA-256 of a root document's canonical `signed` bytes (ServedRoot.signedSha256). */
export function signedDigest(doc: RootDocument): string {
  return createHash('sha256').update(canonicalBytes('foundries', doc.signed)).digest('hex');
}

/**
 * The Factory's TUF state, read fresh: status (NONE / STARTED / APPLYING), the CI and production
 * roots served (version, bytes' SHA-256, canonical `signed` SHA-256), whether apply must be re-run
 * (`partial`), and the staged roots. `txid` is echoed when given and a transaction is open (the API
 * never reveals it: the caller keeps it).
 */
export function factoryState(client: FoundriesClient, txid?: string): Promise<FactoryState> {
  return client.state(txid);
}

export interface FactoryReview {
  state: FactoryState;
  /** Staged CI root against the served CI root (absent when nothing is staged). */
  ci?: RootDiff;
  /** Staged production root against the served production root. */
  prod?: RootDiff;
  /** Device rules of the staged roots against the served ones. */
  verify?: { ci: VerifyReport; prod: VerifyReport | undefined };
  /** True when apply may run: staged, signed to every threshold, no server errors. */
  ready: boolean;
  /** Why apply cannot run yet (server issues and failing device rules), one line each. */
  blocking: string[];
  /** Staged roots (for callers that sign or compare them). */
  staged?: { ci: Root; prod: Root | undefined };
}

/** The staged transaction as a diff against what the Factory serves, and whether it may be applied. */
export async function reviewFactory(client: FoundriesClient, opts: { now: Date; txid?: string }): Promise<FactoryReview> {
  const [ci, prod, updates, users] = await Promise.all([client.servedRoot(false), client.servedRoot(true), client.updates(), readUserDirectory(client)]);
  const state = await client.state(opts.txid);
  const out: FactoryReview = { state, ready: false, blocking: [] };
  const u = updates.updated;
  if (u === undefined || state.status === 'NONE') {
    if (state.partial) out.blocking.push('production serves an older root than CI: apply must be re-run');
    return out;
  }
  out.staged = { ci: u.ciRoot, prod: u.prodRoot };
  const named = users !== undefined ? { users } : {};
  out.ci = diffRoots(ci.root, u.ciRoot, { now: opts.now, ...named });
  const prodBase = prod.root;
  if (u.prodRoot !== undefined) out.prod = diffRoots(prodBase, u.prodRoot, { now: opts.now, ...named });
  if (state.status === 'APPLYING') {
    out.ready = true;
    out.blocking = [];
    return out;
  }
  // Before applying to a Factory: the rules only the Foundries API holds fail too (factory: true).
  const ciReport = verifyRootUpdate(ci.root, u.ciRoot, { now: opts.now, factory: true });
  const prodReport = u.prodRoot === undefined ? undefined : verifyRootUpdate(prodBase, u.prodRoot, { now: opts.now, factory: true });
  out.verify = { ci: ciReport, prod: prodReport };
  out.blocking.push(...updates.issues.errors.map((e) => `Factory: ${e.message}`));
  for (const [name, r] of [['CI', ciReport], ['production', prodReport]] as const) {
    if (r === undefined) continue;
    for (const x of r.results) if (x.status === 'fail') out.blocking.push(`${name} root ${x.rule}: ${x.message}`);
  }
  if (u.prodRoot === undefined) out.blocking.push('no production root is staged');
  out.ready = out.blocking.length === 0;
  return out;
}

/** Cancels the open transaction (any admin may), then reads the state back to say what it is. */
export async function cancelFactory(client: FoundriesClient): Promise<{ canceled: boolean; state: FactoryState; message: string }> {
  const before = await client.state();
  if (before.status === 'NONE') return { canceled: false, state: before, message: describeState(before) };
  if (before.status === 'APPLYING') {
    throw new AppError(
      'TARGET_CONFLICT',
      `The TUF root updates of ${client.factory} are being applied and cannot be canceled. ${describeState(before)}`,
      `Re-run apply with \`tuf-rotate publish --factory ${client.factory}\` until both chains are published.`,
    );
  }
  await client.cancel();
  const after = await client.state();
  // "No changes were made" only when the served roots are still those of before the transaction.
  return { canceled: true, state: after, message: describeState(after, before.ci.version) };
}

export type ApplyResult =
  | { outcome: 'nothing-staged'; state: FactoryState }
  | { outcome: 'waiting'; review: FactoryReview }
  | { outcome: 'published'; state: FactoryState; version: number; verify: { ci: VerifyReport; prod: VerifyReport } };

/**
 * Applies a staged, fully signed transaction, or re-runs apply after a partial apply, then reads
 * both chains back and checks them with the device rules against the version before. Apply is sent
 * once per call (never retried here); a failure says what the Factory now serves.
 */
export async function applyFactory(
  client: FoundriesClient,
  opts: { txid?: string; now: Date; review?: FactoryReview; onStep?: (step: string) => void },
): Promise<ApplyResult> {
  const review = opts.review ?? (await reviewFactory(client, { now: opts.now, ...(opts.txid !== undefined ? { txid: opts.txid } : {}) }));
  const st = review.state;
  if (st.status === 'NONE') {
    if (st.partial) {
      throw new AppError('TARGET_PARTIAL_APPLY', `${describeState(st)} No transaction is open to re-run.`,
        'Contact Foundries support: the production root lags the CI root with no TUF root updates in progress.');
    }
    return { outcome: 'nothing-staged', state: st };
  }
  if (!review.ready) return { outcome: 'waiting', review };
  const version = review.staged?.ci.version ?? st.ci.version;
  opts.onStep?.('apply');
  try {
    await client.apply(opts.txid ?? '');
  } catch (e) {
    if (e instanceof AppError && e.code === 'TARGET_PARTIAL_APPLY') {
      const after = await client.stateSentence(version - 1);
      throw new AppError(e.code, `${e.message} ${after}`, `Run \`tuf-rotate publish --factory ${client.factory}\` again to re-run apply until both chains are published. Keep the new key archive.`, { cause: e });
    }
    throw e;
  }
  opts.onStep?.('applied');
  const state = await client.state();
  const verify = await verifyServed(client, opts.now);
  if (state.partial || state.ci.version !== version || state.prod.version !== version) {
    throw new AppError('TARGET_PARTIAL_APPLY', `Apply answered success, but ${describeState(state)}`, `Run \`tuf-rotate publish --factory ${client.factory}\` again to re-run apply.`);
  }
  if (!verify.ci.ok || !verify.prod.ok) {
    throw new AppError('PUBLISH_FAILED', `${client.factory} now serves root version ${version}, which does not pass the device rules against version ${version - 1}.`,
      'Do not discard any key archive; compare the published roots with the ones you signed.');
  }
  return { outcome: 'published', state, version, verify };
}

/** The served CI and production roots checked with the device rules against their previous version. */
export async function verifyServed(client: FoundriesClient, now: Date): Promise<{ ci: VerifyReport; prod: VerifyReport }> {
  const out: Partial<Record<'ci' | 'prod', VerifyReport>> = {};
  for (const kind of ['ci', 'prod'] as const) {
    const cur = (await client.servedRoot(kind === 'prod')).root;
    const prev = cur.version > 1 ? await client.rootVersion(cur.version - 1, kind === 'prod') : undefined;
    out[kind] = verifyRootUpdate(prev ?? cur, cur, { now });
  }
  return { ci: out.ci as VerifyReport, prod: out.prod as VerifyReport };
}
