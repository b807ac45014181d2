/**
 * The page's Foundries first-time rotation (foundries-operations.md §3.1 `init --first-time`, the
 * CLI's `rotate --first-time`): the Factory still holds the first root key and hands it over at
 * init. Nothing is uploaded; the plan step starts from an empty key ring, and the first-root keys
 * the server hands over are written at once (0600, never over a file) to a new archive in the
 * work folder, before anything else, as fioctl does.
 */
import path from 'node:path';
import type { KeyArchive } from './archive/read.js';
import { emptyArchive, type KeyRing } from './keyring.js';
import { exists } from './util/fs-atomic.js';

export const FIRST_TIME_SOURCE = 'the first root key from the Factory';

/** An empty ring: prepareRotation adds the first root key the Factory hands over. */
export function firstTimeHeld(): { archive: KeyArchive; ring: KeyRing } {
  return { archive: emptyArchive(), ring: { source: FIRST_TIME_SOURCE, archive: undefined, keys: [] } };
}

/** Where the first-root keys are written: a new file in the work folder, never an existing one. */
export async function firstTimeKeysPath(workDir: string, factory: string, now: Date): Promise<string> {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const safe = factory.replace(/[^A-Za-z0-9._-]/g, '_');
  for (let i = 0; ; i++) {
    const p = path.join(workDir, `first-root-keys-${safe}-${stamp}${i === 0 ? '' : `-${i}`}.tgz`);
    if (!(await exists(p))) return p;
  }
}
