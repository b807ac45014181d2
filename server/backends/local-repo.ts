import { promises as fs } from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors.js';
import { parseRoot, serializeRoot } from '../tuf/metadata.js';
import { isJsonObject } from '../tuf/json.js';
import type { MetadataFile, RepoDocs } from '../tuf/repo-metadata.js';
import type { Root, RootDocument } from '../tuf/model.js';
import { exists, readFileLimited, writeFileAtomic } from '../util/fs-atomic.js';
import type { Backend, PublishResult, RotationBase } from './backend.js';

export const ROOT_FILE_LIMIT = 1024 * 1024;

/**
 * A standard TUF repository on disk: DIR/metadata/N.root.json for every version and
 * DIR/metadata/root.json (the newest). Publishing writes N+1.root.json, then replaces root.json,
 * each atomically; a published N.root.json is never rewritten (clients cache it).
 */
export class LocalRepoBackend implements Backend {
  readonly kind = 'repo' as const;
  readonly description: string;
  readonly metadataDir: string;

  constructor(readonly dir: string) {
    this.metadataDir = path.join(dir, 'metadata');
    this.description = `local TUF repository ${dir}`;
  }

  async currentRoot(): Promise<Root> {
    const file = path.join(this.metadataDir, 'root.json');
    if (!(await exists(file))) {
      throw new AppError(
        'REPO_INVALID',
        `${this.dir} is not a TUF repository: ${file} is missing.`,
        'Point --repo at the folder that holds metadata/root.json.',
      );
    }
    const root = parseRoot(await readFileLimited(file, ROOT_FILE_LIMIT, 'root metadata'), file);
    // root.json must be the newest N.root.json; a newer numbered file means a half-done publish.
    const newer = path.join(this.metadataDir, `${root.version + 1}.root.json`);
    if (await exists(newer)) {
      return parseRoot(await readFileLimited(newer, ROOT_FILE_LIMIT, 'root metadata'), newer);
    }
    return root;
  }

  async history(): Promise<Root[]> {
    const current = await this.currentRoot();
    const out: Root[] = [];
    for (let v = 1; v <= current.version; v++) {
      const file = path.join(this.metadataDir, `${v}.root.json`);
      if (!(await exists(file))) continue;
      out.push(parseRoot(await readFileLimited(file, ROOT_FILE_LIMIT, 'root metadata'), file));
    }
    if (out.length === 0 || out[out.length - 1]?.version !== current.version) out.push(current);
    return out;
  }

  async begin(): Promise<RotationBase> {
    return { base: await this.currentRoot(), bumpVersion: true };
  }

  async publish(root: RootDocument): Promise<PublishResult> {
    const text = serializeRoot(root);
    const parsed = parseRoot(text);
    const numbered = path.join(this.metadataDir, `${parsed.version}.root.json`);
    if (await exists(numbered)) {
      // Resuming an interrupted publish: the same bytes may already be there; anything else is refused.
      const have = await fs.readFile(numbered, 'utf8');
      if (have !== text) {
        throw new AppError(
          'FILE_EXISTS',
          `${numbered} already exists with different content; a published root is never rewritten.`,
          'Check the repository: someone else may have rotated it. Start again from the current root.',
        );
      }
    } else {
      await writeFileAtomic(numbered, text, { mode: 0o644 });
    }
    await writeFileAtomic(path.join(this.metadataDir, 'root.json'), text, { mode: 0o644, overwrite: true });
    const readBack = await this.currentRoot();
    return { location: numbered, readBack };
  }

  async abort(): Promise<void> {}

  /** The timestamp.json, snapshot.json and targets.json clients would fetch now (consistent-snapshot names first). */
  async readRepoDocs(): Promise<RepoDocs> {
    const read = async (names: string[], what: string): Promise<string> => {
      for (const name of names) {
        const file = path.join(this.metadataDir, name);
        if (await exists(file)) return (await readFileLimited(file, ROOT_FILE_LIMIT * 8, `${what} metadata`)).toString('utf8');
      }
      throw new AppError('REPO_INVALID', `${this.dir} has no ${names.join(' or ')} in metadata/.`, 'Point --repo at a complete TUF repository (root, targets, snapshot and timestamp metadata).');
    };
    const versionOf = (text: string, member: string): number | undefined => {
      try {
        const meta = (JSON.parse(text) as { signed?: { meta?: Record<string, unknown> } }).signed?.meta?.[member];
        return isJsonObject(meta) && typeof meta.version === 'number' ? meta.version : undefined;
      } catch {
        return undefined;
      }
    };
    const timestamp = await read(['timestamp.json'], 'timestamp');
    const sv = versionOf(timestamp, 'snapshot.json');
    const snapshot = await read([...(sv !== undefined ? [`${sv}.snapshot.json`] : []), 'snapshot.json'], 'snapshot');
    const tv = versionOf(snapshot, 'targets.json');
    const targets = await read([...(tv !== undefined ? [`${tv}.targets.json`] : []), 'targets.json'], 'targets');
    return { targets, snapshot, timestamp };
  }

  /**
   * Writes re-signed metadata in the order given (targets, snapshot, timestamp; after the root),
   * each atomically. A numbered file that exists with other content is refused (never rewritten).
   */
  async publishMetadata(files: readonly MetadataFile[]): Promise<string[]> {
    const written: string[] = [];
    for (const f of files) {
      const file = path.join(this.metadataDir, f.name);
      if (/^\d+\./.test(f.name) && (await exists(file))) {
        if ((await fs.readFile(file, 'utf8')) === f.text) continue;
        throw new AppError('FILE_EXISTS', `${file} already exists with different content; published metadata is never rewritten.`, 'Check the repository: someone else may have changed it. Start again from its current state.');
      }
      await writeFileAtomic(file, f.text, { mode: 0o644, overwrite: true });
      written.push(file);
    }
    return written;
  }
}
