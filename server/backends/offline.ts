import path from 'node:path';
import { AppError } from '../errors.js';
import { parseRoot, serializeRoot } from '../tuf/metadata.js';
import type { Root, RootDocument } from '../tuf/model.js';
import { readFileLimited, writeFileAtomic } from '../util/fs-atomic.js';
import type { Backend, PublishResult, RotationBase } from './backend.js';
import { ROOT_FILE_LIMIT } from './local-repo.js';

/**
 * Offline files: the current root.json comes from a file (or an upload); the signed new root is
 * written to a new file, to be published later from another machine with `tuf-rotate publish`.
 */
export class OfflineBackend implements Backend {
  readonly kind = 'offline' as const;
  readonly description: string;
  #root: Root | undefined;

  constructor(
    readonly rootSource: { file: string } | { root: Root },
    readonly outRoot: string | undefined,
  ) {
    this.description =
      'file' in rootSource ? `offline root file ${rootSource.file}` : 'offline root (uploaded)';
    if ('root' in rootSource) this.#root = rootSource.root;
  }

  async currentRoot(): Promise<Root> {
    if (!this.#root) {
      const file = (this.rootSource as { file: string }).file;
      this.#root = parseRoot(await readFileLimited(file, ROOT_FILE_LIMIT, 'root metadata'), file);
    }
    return this.#root;
  }

  async history(): Promise<Root[]> {
    return [await this.currentRoot()];
  }

  async begin(): Promise<RotationBase> {
    return { base: await this.currentRoot(), bumpVersion: true };
  }

  async publish(root: RootDocument): Promise<PublishResult> {
    if (!this.outRoot) {
      throw new AppError('TARGET_NOT_CONFIGURED', 'No output path for the new root was given.', 'Pass --out-root NEW.json.');
    }
    await writeFileAtomic(this.outRoot, serializeRoot(root), { mode: 0o644 });
    const readBack = parseRoot(await readFileLimited(this.outRoot, ROOT_FILE_LIMIT, 'root metadata'), this.outRoot);
    return { location: path.resolve(this.outRoot), readBack };
  }

  async abort(): Promise<void> {}
}
