import { AppError } from '../errors.js';
import type { Root, RootDocument } from '../tuf/model.js';
import type { Backend, PublishResult, RotationBase, TargetKind } from './backend.js';
import type { FoundriesClient } from './foundries-client.js';

/** fioctl's default changelog for a root key rotation. */
export const DEFAULT_CHANGELOG = 'Rotate TUF root offline signing key';

/**
 * A FoundriesFactory (real, or our practice factory on loopback) through the TUF root updates
 * transaction, like fioctl ≥ v0.30: init (shortcut) → read the staged root → PUT signed CI and
 * production roots → apply. Apply is never retried automatically.
 */
export class FoundriesBackend implements Backend {
  readonly kind: TargetKind;
  readonly description: string;
  #txid: string | undefined;

  constructor(
    readonly client: FoundriesClient,
    opts: { practice?: boolean; firstTime?: boolean } = {},
  ) {
    this.kind = opts.practice ? 'practice' : 'factory';
    this.firstTime = opts.firstTime ?? false;
    this.description = `${opts.practice ? 'practice factory' : 'FoundriesFactory'} ${client.factory}`;
  }

  readonly firstTime: boolean;

  currentRoot(): Promise<Root> {
    return this.client.currentRoot();
  }

  history(): Promise<Root[]> {
    return this.client.history();
  }

  async begin(changelog: string): Promise<RotationBase> {
    const message = changelog.trim() === '' ? DEFAULT_CHANGELOG : changelog;
    const init = await this.client.init({ message, firstTime: this.firstTime, shortcut: true });
    this.#txid = init.txid;
    try {
      const updates = await this.client.updates();
      if (updates.status !== 'STARTED' || !updates.updated) {
        throw new AppError(
          'TARGET_CONFLICT',
          `${this.description} did not stage a root after init (status ${updates.status}).`,
          'Review the TUF root updates on the Factory, cancel them, and try again.',
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
    } catch (e) {
      await this.abort();
      throw e;
    }
  }

  async publish(root: RootDocument, prod?: RootDocument): Promise<PublishResult> {
    if (!prod) {
      throw new AppError('INTERNAL', 'A Factory rotation needs the production root too.', 'Report this as a bug; nothing was published.');
    }
    const txid = this.#txid ?? '';
    await this.client.put({ txid, ciRoot: root, prodRoot: prod });
    await this.client.apply(txid);
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
