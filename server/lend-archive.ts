/**
 * Another key archive in the page lends its keys (fioctl keeps a Factory's targets keys in their
 * own file with `--targets-keys`), like a second `--keys ARCHIVE` on the command line: its keys
 * sign, but the new archive saved at the end is a copy of the first archive plus the new keys.
 * Read in memory, never written.
 */
import type { KeyArchive } from './archive/read.js';
import { AppError } from './errors.js';
import { keyRingFromArchive } from './keyring.js';
import type { KeyRing } from './keyring.js';
import { samePublicKey } from './tuf/public-key.js';

export interface HeldArchives {
  /** The archive the new archive copies. */
  archive: KeyArchive;
  ring: KeyRing;
  /** Further archives whose keys sign too. */
  lent?: KeyArchive[];
}

export function lendArchive(prev: HeldArchives, added: KeyArchive): HeldArchives {
  if (added.sha256 === prev.archive.sha256 || (prev.lent ?? []).some((a) => a.sha256 === added.sha256)) {
    throw new AppError('ARCHIVE_INVALID', 'This key archive has already been added.', 'Choose the other archive (for example the one that holds the targets keys).');
  }
  const more = keyRingFromArchive(added, 'the added archive');
  const fresh = more.keys.filter((k) => !prev.ring.keys.some((h) => samePublicKey(h.publicKey, k.publicKey)));
  if (fresh.length === 0) {
    throw new AppError('ARCHIVE_INVALID', 'The added archive holds no usable key that is not already among your keys.', 'Choose the archive that holds the other keys (for example the targets keys), or go on with the keys you have.');
  }
  if (prev.archive.entries.length === 0) {
    // Keys so far came as PEM files or token keys: this archive is the first one, the one the new archive copies.
    const ring: KeyRing = { source: `the uploaded archive, ${prev.ring.source}`, archive: added, keys: [...prev.ring.keys, ...fresh] };
    return { archive: added, ring, ...(prev.lent ? { lent: prev.lent } : {}) };
  }
  const ring: KeyRing = { source: `${prev.ring.source}, another archive`, archive: prev.ring.archive, keys: [...prev.ring.keys, ...fresh] };
  return { archive: prev.archive, ring, lent: [...(prev.lent ?? []), added] };
}
