/**
 * A PEM private key file uploaded in the page joins the session's keys (beside an uploaded
 * archive, or alone), like `--keys KEY.pem` on the command line: parsed in memory, never written,
 * logged or sent back. Only public facts of it leave (label, algorithm, size).
 */
import type { KeyArchive } from './archive/read.js';
import { emptyArchive, fileHeldKey, type KeyRing } from './keyring.js';
import { parsePemPrivateKey } from './tuf/private-key.js';
import { samePublicKey } from './tuf/public-key.js';

/** The label of an uploaded PEM key: its file name, cleaned (no path, printable, short). */
export function pemLabel(name: string | undefined): string {
  const base = (name ?? '').split(/[/\\]/).pop() ?? '';
  const clean = base.replace(/[^A-Za-z0-9._@+-]+/g, '_').slice(0, 100);
  return clean === '' || /^[._]+$/.test(clean) ? 'uploaded PEM key' : clean;
}

/**
 * The keys after adding the PEM key `pem`: the previous archive (or an empty one: the new archive
 * then holds the new keys only, as with PEM files on the command line) and its keys, the same key
 * uploaded again replacing itself.
 */
export function joinPemKey(
  prev: { archive: KeyArchive; ring: KeyRing } | undefined,
  body: { pem: string; name?: string },
): { archive: KeyArchive; ring: KeyRing; pemKey: { label: string; algorithm: 'ed25519' | 'rsa' | 'ecdsa'; bits: number } } {
  const key = parsePemPrivateKey(body.pem);
  const label = pemLabel(body.name);
  const held = fileHeldKey(label, key);
  const others = (prev?.ring.keys ?? []).filter((k) => !samePublicKey(k.publicKey, key.publicKey));
  const ring: KeyRing = { source: prev ? `${prev.ring.source}, ${label}` : label, archive: prev?.ring.archive, keys: [...others, held] };
  return { archive: prev?.archive ?? emptyArchive(), ring, pemKey: { label, algorithm: key.publicKey.algorithm, bits: key.publicKey.bits } };
}
