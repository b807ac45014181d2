/**
 * Names inside a Factory key archive, as fioctl writes and reads them (foundries-api.md §4.1, §4.2).
 * Pure string functions: no fs, no crypto.
 */

/** The roles fioctl stores offline keys for. */
export type OfflineRole = 'root' | 'targets';

/** Where fioctl puts its keys, without the optional `./` prefix. */
export const KEYS_DIR = 'tufrepo/keys/';

/**
 * fioctl's base name of a new key pair (`addOfflineTufKey`): `tufrepo/keys/fioctl-<role>-<keyid>`.
 * `prefix` is what `archivePrefix` found (`''` or `'./'`), so new entries look like the old ones.
 */
export function fioctlKeyBase(role: OfflineRole, keyid: string, prefix = ''): string {
  if (!/^[0-9a-f]+$/i.test(keyid)) {
    // A key ID is hex in both dialects; anything else would make a strange (or unsafe) file name.
    throw new TypeError('key ID must be hexadecimal');
  }
  return `${prefix}${KEYS_DIR}fioctl-${role}-${keyid}`;
}

/** The two file names of a pair. */
export function pairNames(base: string): { pub: string; sec: string } {
  return { pub: `${base}.pub`, sec: `${base}.sec` };
}

/** fioctl only looks at names ending in `.pub` when it searches for keys. */
export function isPublicKeyName(name: string): boolean {
  return name.endsWith('.pub');
}

export function isSecretKeyName(name: string): boolean {
  return name.endsWith('.sec');
}

/**
 * The private sibling of a `.pub` name exactly as fioctl derives it: the *first* `.pub` replaced
 * by `.sec` (Go's `strings.Replace(name, ".pub", ".sec", 1)`), not necessarily the last.
 */
export function secretNameFor(pubName: string): string {
  return pubName.replace('.pub', '.sec');
}

/** The pair's base name: the name without its final `.pub` / `.sec`. */
export function baseOf(name: string): string {
  return isPublicKeyName(name) || isSecretKeyName(name) ? name.slice(0, -4) : name;
}

/**
 * The prefix new entries should carry: `'./'` when the archive's key files are stored as
 * `./tufrepo/...` (an archive made with `tar -czf x.tgz ./tufrepo`), else `''` (fioctl's form).
 * Decided by the key files (`.pub`/`.sec`) first, then by any entry; the majority wins.
 */
export function archivePrefix(names: readonly string[]): '' | './' {
  const keyNames = names.filter((n) => isPublicKeyName(n) || isSecretKeyName(n));
  const pool = keyNames.length > 0 ? keyNames : names;
  let dotted = 0;
  let plain = 0;
  for (const n of pool) {
    if (n.startsWith('./')) dotted++;
    else plain++;
  }
  return dotted > plain ? './' : '';
}

/** First 8 hex characters of a key ID, as the UI and messages show it. */
export function shortKeyId(keyid: string): string {
  return keyid.slice(0, 8);
}
