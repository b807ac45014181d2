/**
 * The rotation ceremony, step by step, over any target: the same functions run the CLI and the
 * server's jobs. Order (product.md invariants 1 and 4): generate → plan → sign → verify → save the
 * new archive (durable, read back, proven) → publish → read back and verify again.
 */
import { fioctlKeyBase, archivePrefix } from './archive/layout.js';
import { buildArchiveBytes, readBackAndProve, writeKeyArchive } from './archive/write.js';
import { findRoleSigner, readKeyArchive } from './archive/read.js';
import type { Backend, RotationBase } from './backends/backend.js';
import { AppError } from './errors.js';
import { emptyArchive, heldKeysForRole, keyRingFromArchive } from './keyring.js';
import type { KeyRing } from './keyring.js';
import { writeFileAtomic } from './util/fs-atomic.js';
import type { JsonObject } from './tuf/json.js';
import { archivePairFilesFor } from './tuf/archive-keys.js';
import { generateKey } from './tuf/private-key.js';
import type { PrivateKey } from './tuf/private-key.js';
import { parseRoot } from './tuf/metadata.js';
import type { KeyAlgorithm, Root, RootDocument, Signer, VerifyReport } from './tuf/model.js';
import { planRootRotation, signRotation } from './tuf/rotate.js';
import type { RotationInput, RotationPlan } from './tuf/rotate.js';
import { requireBackupOrAck } from './signers/backup-gate.js';
import type { Pkcs11Options, Pkcs11Signer } from './signers/pkcs11.js';
import { tokenRefBytes, tokenRefName } from './archive/token-ref.js';
import { LocalSigner } from './tuf/sign.js';
import { verifyRootUpdate } from './tuf/verify.js';

export interface RotateOptions {
  keyType: KeyAlgorithm;
  /** Foundries first-time rotation: where to save the first root key the Factory hands over, at once. */
  firstTimeOut?: string;
  changelog?: string;
  /** Days from now until the new root expires (default one year). */
  expiresDays?: number;
  now?: Date;
  /** Generate the new root key in a hardware token (pkcs11: URI naming token and label) instead of in memory. */
  newTokenKey?: { uri: string; pkcs11: Pkcs11Options; noBackupAck?: string | undefined; existing?: boolean };
  /** Plan from an expired root anyway (product.md: refused unless overridden with a reason). */
  allowExpired?: { reason: string };
}

export type Progress = (step: string, detail?: string) => void;

export interface PreparedRotation {
  current: Root;
  base: RotationBase;
  plan: RotationPlan;
  /** The new key in memory; undefined when it was generated in a token (`newToken`). */
  newKey: PrivateKey | undefined;
  newToken?: { signer: Pkcs11Signer; noBackupAck: string | undefined };
  signers: Map<string, Signer>;
  now: Date;
  /** The target is a Factory (or the practice factory): rules only the Foundries API holds fail. */
  factory?: boolean;
  /** Set when the current root had expired and the override's reason allowed the plan (for the journal and record). */
  expiredOverride?: { reason: string; expired: string };
}

export interface SignedRotation {
  document: RootDocument;
  prod: RootDocument | undefined;
  root: Root;
  report: VerifyReport;
}

export interface SavedArchive {
  path: string;
  sha256: string;
  bytes: number;
  newKeyBase: string;
  /** Where the file that was at `path` was moved (an overwrite keeps a backup). */
  backupPath?: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Steps 5–6: the new key and the unsigned new root (nothing is written or sent). */
export async function prepareRotation(
  backend: Backend,
  ring: KeyRing,
  opts: RotateOptions,
  progress: Progress = () => {},
): Promise<PreparedRotation> {
  const now = opts.now ?? new Date();
  progress('load', `Reading the current root from ${backend.description}`);
  const current = await backend.currentRoot();
  const expiredOverride = checkExpired(current, now, opts.allowExpired);
  await ring.openTokenKeysFor?.(current); // token keys the archive records, if this root lists them
  if (!backend.firstTime) requireHeldRootKey(ring, current);
  if (current.dialect === 'foundries' && opts.keyType === 'ecdsa') {
    // Before any key is generated (on a token that would leave a key nobody can use).
    throw new AppError('KEY_TYPE_UNSUPPORTED', 'Foundries devices verify only Ed25519 and RSA root keys, not ECDSA.', 'Use --key-type ed25519 (recommended) or rsa for a Foundries root.');
  }
  const expires = opts.expiresDays !== undefined ? new Date(now.getTime() + opts.expiresDays * DAY_MS) : undefined;
  let newKey: PrivateKey | undefined;
  if (!opts.newTokenKey) {
    progress('generate', `Generating a new ${opts.keyType} key`);
    newKey = await generateKey(opts.keyType);
  }
  progress('begin', `Starting the rotation on ${backend.description}`);
  const base = await backend.begin(opts.changelog ?? '');
  let plan: RotationPlan;
  let newToken: PreparedRotation['newToken'];
  try {
    if (base.firstTimeFiles) await takeFirstTimeKeys(ring, base.firstTimeFiles, opts.firstTimeOut);
    requireHeldRootKey(ring, current);
    const heldBase = heldKeysForRole(ring, base.base);
    const input: Omit<RotationInput, 'newKey'> = {
      heldKeyIds: [...heldBase.keys()],
      now,
      bumpVersion: base.bumpVersion,
      ...(opts.changelog !== undefined && base.bumpVersion ? { changelog: opts.changelog } : {}),
      ...(expires ? { expires } : {}),
      ...(base.polisId !== undefined ? { polisId: base.polisId } : {}),
      ...(base.prodTargetsThreshold !== undefined ? { prodTargetsThreshold: base.prodTargetsThreshold } : {}),
    };
    if (opts.newTokenKey) {
      // The backup gate, on the new root's shape (a stand-in key), before anything is made on the token.
      const standIn = planRootRotation(base.base, { ...input, newKey: (await generateKey('ed25519')).publicKey });
      const tokenHeld = [...heldBase].filter(([, h]) => h.tokenUri !== undefined).map(([id]) => id);
      requireBackupOrAck(standIn, [standIn.newKeyId, ...tokenHeld], opts.newTokenKey.noBackupAck);
      const { Pkcs11Signer } = await import('./signers/pkcs11.js');
      if (opts.newTokenKey.existing === true) {
        // A key generated in the token by its own tool (ykman, the HSM's CLI): adopted, never generated here.
        progress('generate', `Opening the new key already in the token (${opts.newTokenKey.uri})`);
        const signer = await Pkcs11Signer.open(opts.newTokenKey.uri, opts.newTokenKey.pkcs11);
        newToken = { signer, noBackupAck: opts.newTokenKey.noBackupAck };
        if (signer.extractable) {
          throw new AppError('KEY_TYPE_UNSUPPORTED', `${signer.uri} can be extracted from the token, so it is no hardware-bound root key.`, 'Generate the key inside the token (non-extractable), or let tuf-rotate generate it (--new-key without --new-key-exists).');
        }
      } else {
        progress('generate', `Generating a new ${opts.keyType} key in the token (${opts.newTokenKey.uri})`);
        newToken = { signer: await Pkcs11Signer.generate(opts.newTokenKey.uri, opts.keyType, opts.newTokenKey.pkcs11), noBackupAck: opts.newTokenKey.noBackupAck };
      }
      if (current.dialect === 'foundries' && newToken.signer.publicKey.algorithm === 'ecdsa') {
        throw new AppError('KEY_TYPE_UNSUPPORTED', `${newToken.signer.uri} is an ECDSA key; Foundries devices verify only Ed25519 and RSA root keys.`, 'Use an Ed25519 or RSA key in the token for a Foundries root.');
      }
    }
    const newPublic = newToken?.signer.publicKey ?? newKey?.publicKey;
    if (newPublic === undefined) throw new AppError('INTERNAL', 'no new key', 'Report this as a bug.');
    plan = planRootRotation(base.base, { ...input, newKey: newPublic });
  } catch (e) {
    await backend.abort();
    throw e;
  }
  const signers = new Map<string, Signer>();
  for (const [keyid, held] of heldKeysForRole(ring, base.base)) signers.set(keyid, held.signer);
  for (const [keyid, held] of heldKeysForRole(ring, current)) signers.set(keyid, held.signer);
  signers.set(plan.newKeyId, newToken?.signer ?? new LocalSigner(newKey as PrivateKey));
  const factory = backend.kind === 'factory' || backend.kind === 'practice';
  return { current, base, plan, newKey, ...(newToken ? { newToken } : {}), signers, now, factory, ...(expiredOverride ? { expiredOverride } : {}) };
}

/**
 * An expired current root is refused (nothing is begun) unless the caller overrides with a reason,
 * which the journal and the record then keep. An empty reason is refused even on a live root.
 */
export function checkExpired(current: Root, now: Date, allow: { reason: string } | undefined): { reason: string; expired: string } | undefined {
  if (allow !== undefined && allow.reason.trim() === '') {
    throw new AppError('BAD_USAGE', 'The override for an expired root needs a reason.', 'Say why the rotation must go ahead from an expired root, e.g. --allow-expired "root expired over the holidays".');
  }
  if (current.expiresAt.getTime() > now.getTime()) return undefined;
  if (allow === undefined) {
    throw new AppError(
      'ROOT_EXPIRED',
      `The current root (version ${current.version}) expired on ${current.expires}; clients refuse it until a newer root is published.`,
      'Rotating or refreshing it is the fix, but say why: run again with --allow-expired "REASON" (on the page: the reason field of the Plan step); the reason is written to the journal and record.',
    );
  }
  return { reason: allow.reason.trim(), expired: current.expires };
}

/** Refuses, naming the precise problem, when the keys hold no private key of the root role. */
function requireHeldRootKey(ring: KeyRing, current: Root): void {
  if (heldKeysForRole(ring, current).size > 0) return;
  // The archive reader names the precise problem (a .pub without its .sec, a mismatched pair, ...).
  if (ring.archive) findRoleSigner(ring.archive, current, 'root');
  throw new AppError(
    'ARCHIVE_NO_ROOT_KEY',
    `The keys given (${ring.source}) hold no private key of the current root role (version ${current.version}).`,
    'Use the key archive written at the last root rotation (or the PEM file of a current root key).',
  );
}

/**
 * Foundries first-time rotation: the server hands over the first root key. Like fioctl, save it
 * (verbatim) to the output path before anything else, then use it as the input archive.
 */
async function takeFirstTimeKeys(ring: KeyRing, files: { name: string; data: Uint8Array }[], out: string | undefined): Promise<void> {
  const bytes = await buildArchiveBytes(emptyArchive(), files);
  if (out !== undefined) await writeFileAtomic(out, bytes, { mode: 0o600 });
  const archive = await readKeyArchive(bytes, { name: 'first-root keys' });
  const fromServer = keyRingFromArchive(archive, 'the first root key from the Factory');
  ring.archive = archive;
  ring.keys.push(...fromServer.keys);
}

/** Step 7: sign with the new and old keys, then verify as a device would against the current root. */
export async function signAndVerify(prep: PreparedRotation, progress: Progress = () => {}): Promise<SignedRotation> {
  progress('sign', 'Signing the new root with the new key and the old key');
  const { root: document, prod } = await signRotation(prep.plan, prep.signers);
  progress('verify', 'Verifying the new root as a client would');
  const root = parseRoot(document as unknown as JsonObject, 'the new root');
  const report = verifyRootUpdate(prep.current, root, { now: prep.now, factory: prep.factory ?? false });
  return { document, prod, root, report };
}

/**
 * Step 8 (invariant 1): the new archive (old entries + the new pair) is written atomically with
 * mode 0600, read back, and proven to hold the key that signs for the new root's key ID.
 */
export async function saveArchive(
  prep: PreparedRotation,
  ring: KeyRing,
  outPath: string,
  opts: { overwrite?: boolean } = {},
  progress: Progress = () => {},
): Promise<SavedArchive> {
  const archive = ring.archive ?? emptyArchive();
  const prefix = archivePrefix(archive.entries.map((e) => e.name));
  const base = fioctlKeyBase('root', prep.plan.newKeyId, prefix);
  const token = prep.newToken;
  let additions: { name: string; data: Uint8Array }[];
  if (token) {
    // A token key cannot be archived: the public key and where the key lives (no secret, no .sec).
    const facts = token.signer.token;
    additions = [
      { name: `${base}.pub`, data: new TextEncoder().encode(JSON.stringify(prep.plan.newKeyJson)) },
      {
        name: tokenRefName(base),
        data: tokenRefBytes({
          uri: token.signer.uri,
          keyid: prep.plan.newKeyId,
          token: { label: facts.label, serial: facts.serial, manufacturer: facts.manufacturer, model: facts.model },
          createdAt: prep.now.toISOString(),
          ...(token.noBackupAck !== undefined ? { noBackupAck: token.noBackupAck } : {}),
        }),
      },
    ];
  } else {
    const files = archivePairFilesFor(prep.plan.dialect, prep.newKey as PrivateKey, prep.plan.newKeyJson);
    additions = [
      { name: `${base}.pub`, data: files.pub },
      { name: `${base}.sec`, data: files.sec },
    ];
  }
  progress('save', `Writing the new key archive to ${outPath}`);
  const written = await writeKeyArchive(outPath, archive, additions, { overwrite: opts.overwrite ?? false, backup: true });
  progress('readback', 'Reading the archive back and proving the new key');
  await readBackAndProve(written.path, written.sha256, {
    keyid: prep.plan.newKeyId,
    publicKey: prep.plan.newKey,
    base,
    ...(token ? { token: { uri: token.signer.uri, signer: token.signer } } : {}),
  });
  return { path: written.path, sha256: written.sha256, bytes: written.bytes, newKeyBase: base, ...(written.backupPath === undefined ? {} : { backupPath: written.backupPath }) };
}

/** Step 9: publish, read back from the target, and verify what the target now serves. */
export async function publishRotation(
  backend: Backend,
  trusted: Root,
  signed: { document: RootDocument; prod: RootDocument | undefined },
  now: Date,
  progress: Progress = () => {},
): Promise<{ location: string; readBack: Root; report: VerifyReport }> {
  progress('publish', `Publishing the new root to ${backend.description}`);
  const result = await backend.publish(signed.document, signed.prod);
  progress('confirm', 'Reading the root back from the target and verifying it again');
  const report = verifyRootUpdate(trusted, result.readBack, { now, factory: backend.kind === 'factory' || backend.kind === 'practice' });
  if (!report.ok) {
    throw new AppError(
      'PUBLISH_FAILED',
      `${backend.description} now serves root version ${result.readBack.version}, which does not verify against version ${trusted.version}.`,
      'Do not discard any key archive; compare the published root with the one tuf-rotate signed.',
    );
  }
  return { location: result.location, readBack: result.readBack, report };
}

/** Summary of failing rules, for one plain sentence. */
export function failedRules(report: VerifyReport): string {
  return report.results
    .filter((r) => r.status === 'fail')
    .map((r) => `${r.rule}: ${r.message.replace(/\.$/, '')}`) // the caller ends the sentence
    .join('; ');
}
