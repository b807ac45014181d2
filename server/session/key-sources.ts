/**
 * The session's key sources: an uploaded key archive, a further archive lending its keys, a key in
 * a hardware token and a PEM private key file. Each reads its keys, then (only once they read)
 * drops the planned run and replaces the held keys through `KeyHolder`, and answers what the page
 * shows of them. The Session class checks first that no step runs and nothing was published.
 */
import type { ArchiveReply, PemKeyReply, TokenKeyReply } from '../../shared/api.js';
import { readKeyArchive } from '../archive/read.js';
import { closeKeyRing, emptyArchive, keyRingFromArchive } from '../keyring.js';
import type { HeldKey, KeyRing } from '../keyring.js';
import { lendArchive, type HeldArchives } from '../lend-archive.js';
import { formatPkcs11Uri } from '../signers/pkcs11-uri.js';
import type { Root } from '../tuf/model.js';
import { archiveView } from '../views.js';

/** What a key source needs of the session: the keys held, and the steps around replacing them. */
export interface KeyHolder {
  /** The keys the session holds now. */
  held(): HeldArchives | undefined;
  /** Drops the planned run (the keys it was planned with change). */
  discardRotation(): Promise<void>;
  /** Replaces the keys the session holds. */
  hold(next: HeldArchives): void;
  /** The target's current root, or undefined when there is none or it cannot be read. */
  currentOrUndefined(): Promise<Root | undefined>;
  /** The environment a token's module is looked up in (the session's `env`). */
  env?: NodeJS.ProcessEnv;
}

/** A key archive replaces the held keys. */
export async function uploadArchive(bytes: Uint8Array, holder: KeyHolder): Promise<ArchiveReply> {
  const archive = await readKeyArchive(bytes, { name: 'the uploaded archive' });
  const ring = keyRingFromArchive(archive, 'the uploaded archive');
  await holder.discardRotation();
  const prev = holder.held();
  if (prev) closeKeyRing(prev.ring);
  holder.hold({ archive, ring });
  const root = await holder.currentOrUndefined();
  return archiveView(archive, ring, root);
}

/** A further key archive lends its keys to the held ones (server/lend-archive.ts). */
export async function lendArchiveKeys(prev: HeldArchives, bytes: Uint8Array, holder: KeyHolder): Promise<ArchiveReply> {
  const added = await readKeyArchive(bytes, { name: 'the added archive' });
  const next = lendArchive(prev, added);
  await holder.discardRotation();
  holder.hold(next);
  return archiveView(next.archive, next.ring, await holder.currentOrUndefined(), next.lent);
}

/**
 * A key in a hardware token joins the keys (beside an uploaded archive, or alone). The PIN is
 * handed to C_Login and dropped: it is never logged, stored or sent back.
 */
export async function addTokenKey(body: { module?: string; token: string; key: string; pin: string }, holder: KeyHolder): Promise<TokenKeyReply> {
  const [{ Pkcs11Signer }, { pinFromValue }] = await Promise.all([import('../signers/pkcs11.js'), import('../signers/pin.js')]);
  const signer = await Pkcs11Signer.open(formatPkcs11Uri({ token: body.token, object: body.key }), {
    modulePath: body.module,
    env: holder.env ?? {},
    pin: pinFromValue(body.pin),
  });
  const held: HeldKey = { label: `${signer.uri} (token "${signer.token.label}")`, publicKey: signer.publicKey, signer, tokenUri: signer.uri };
  await holder.discardRotation();
  const prev = holder.held();
  const archive = prev?.archive ?? emptyArchive();
  const others = (prev?.ring.keys ?? []).filter((k) => k.tokenUri !== signer.uri);
  if (prev) closeKeyRing({ ...prev.ring, keys: prev.ring.keys.filter((k) => k.tokenUri === signer.uri) });
  const ring: KeyRing = { source: prev ? `${prev.ring.source}, ${signer.uri}` : signer.uri, archive: prev?.ring.archive, keys: [...others, held] };
  holder.hold({ archive, ring, ...(prev?.lent ? { lent: prev.lent } : {}) });
  const root = await holder.currentOrUndefined();
  const t = signer.token;
  return {
    ...archiveView(archive, ring, root, prev?.lent),
    tokenKey: { uri: signer.uri, label: t.label, serial: t.serial, manufacturer: t.manufacturer, model: t.model, algorithm: signer.publicKey.algorithm, bits: signer.publicKey.bits },
  };
}

/** A PEM private key file joins the keys (beside an uploaded archive, or alone): server/pem-key.ts. */
export async function addPemKey(body: { pem: string; name?: string }, holder: KeyHolder): Promise<PemKeyReply> {
  const { joinPemKey } = await import('../pem-key.js');
  const joined = joinPemKey(holder.held(), body);
  await holder.discardRotation();
  const lent = holder.held()?.lent;
  holder.hold({ archive: joined.archive, ring: joined.ring, ...(lent ? { lent } : {}) });
  const root = await holder.currentOrUndefined();
  return { ...archiveView(joined.archive, joined.ring, root, lent), pemKey: joined.pemKey };
}
