/**
 * The ceremony's steps as every face runs them: start (one ceremony at a time per work folder),
 * record each step of server/ceremony.ts's rotation in the ceremony, open + reconcile, and the
 * recovery publish of a saved root.
 */
import type { Backend } from '../backends/backend.js';
import { publishRotation } from '../ceremony.js';
import type { PreparedRotation, Progress, SavedArchive, SignedRotation } from '../ceremony.js';
import { AppError } from '../errors.js';
import type { JsonObject } from '../tuf/json.js';
import { parseRoot, toDocument } from '../tuf/metadata.js';
import type { Root, RootDocument, VerifyReport } from '../tuf/model.js';
import { readFileLimited, sha256Hex } from '../util/fs-atomic.js';
import { Ceremony, TERMINAL } from './ceremony.js';
import type { CeremonyData, ProposalDocument } from './ceremony.js';
import { appendEvent } from './log.js';
import { backendFromRef, reconcile, refOf, rootSha256, sameTarget, servedRoot } from './reconcile.js';
import type { Reconciled } from './reconcile.js';
import type { CeremonyStore } from './store.js';

const NEW_ARCHIVE_LIMIT = 64 * 1024 * 1024;

export interface OpenOptions {
  who: string;
  now?: () => Date;
  env?: NodeJS.ProcessEnv;
  tokenFile?: string;
}

/** A Factory backend's open transaction id, when the backend exposes it. */
export function txidOf(b: Backend): string | undefined {
  const t = (b as unknown as { txid?: unknown }).txid;
  return typeof t === 'string' ? t : undefined;
}

/** Opens a ceremony (the current one by default) and reconciles it with its target. */
export async function openCeremony(
  store: CeremonyStore,
  o: OpenOptions & { id?: string; backend?: Backend | undefined; adoptPractice?: boolean },
): Promise<{ ceremony: Ceremony; reconciled: Reconciled } | undefined> {
  const data = o.id !== undefined ? await store.load(o.id) : await store.current();
  if (!data) return undefined;
  const ceremony = new Ceremony(store, data, o.who, o.now);
  const given = o.backend ? refOf(o.backend) : undefined;
  // The server's embedded practice factory listens on a new port at each start: its name identifies it.
  const adopt = o.adoptPractice === true && given?.kind === 'practice' && data.target.ref.kind === 'practice' && given.factory === data.target.ref.factory;
  const backend = o.backend && given && (sameTarget(given, data.target.ref) || adopt) ? o.backend : await backendFromRef(data.target.ref, { ...(o.env ? { env: o.env } : {}), ...(o.tokenFile !== undefined ? { tokenFile: o.tokenFile } : {}) });
  const reconciled = await reconcile(ceremony, backend);
  return { ceremony, reconciled };
}

/**
 * Starts a ceremony for `backend`. One at a time per work folder: an open ceremony that saved
 * nothing is cancelled (logged); one with saved keys, a partial apply or an open Factory
 * transaction is refused unless `abandon` names it (keys-saved only), and the refusal says what
 * it would abandon.
 */
export async function startCeremony(
  store: CeremonyStore,
  backend: Backend,
  o: OpenOptions & { changes: JsonObject[]; abandon?: string; current?: Root; inputKeys?: (current: Root) => CeremonyData['inputKeys'] },
): Promise<Ceremony> {
  const now = o.now ?? (() => new Date());
  const open = await openCeremony(store, { ...o, backend, adoptPractice: true });
  if (open && !TERMINAL.has(open.ceremony.state)) {
    const c = open.ceremony;
    const r = open.reconciled;
    if (c.state === 'partly-applied') {
      throw new AppError('SESSION_STATE', `Ceremony ${c.id} (${r.target.description}) is partly applied: ${r.message}`, 'Finish it first with tuf-rotate publish WORKDIR; a new ceremony cannot start over a split target.');
    }
    if (c.state === 'keys-saved') {
      if (o.abandon !== c.id) {
        throw new AppError(
          'SESSION_STATE',
          `Ceremony ${c.id} (${r.target.description}) saved the new key archive ${r.newArchive?.path ?? ''} for version ${r.newVersion ?? '?'} but did not publish it.`,
          `Finish it with tuf-rotate publish WORKDIR; starting a new ceremony abandons that archive (it will never be valid): pass the ceremony id ${c.id} to abandon it.`,
        );
      }
      await c.transition('cancelled', 'abandoned for a new ceremony', { reason: `abandoned by the operator for a new ceremony; ${r.newArchive?.path ?? 'its new archive'} never became valid` });
    } else if (c.data.txid !== undefined && r.reachable && r.state !== 'cancelled') {
      throw new AppError('TARGET_CONFLICT', `Ceremony ${c.id} has an open transaction ${c.data.txid} on ${r.target.description}.`, 'Resume it, or cancel it with tuf-rotate cancel; then start again.');
    } else if (!TERMINAL.has(c.state)) {
      await c.transition('cancelled', 'abandoned for a new ceremony (no key was saved)', { reason: 'a new ceremony started before this one saved any key; nothing was published' });
    }
  }
  const current = o.current ?? (await backend.currentRoot());
  const served = servedRoot(current);
  const ref = refOf(backend);
  // The archive that signs for what the target serves, when a ceremony of this folder published it.
  let trustedArchive: CeremonyData['trustedArchive'];
  for (const d of await store.list()) {
    const k = d.newKeys.find((x) => x.archive)?.archive;
    const root = d.proposal?.documents.find((x) => x.name === 'root');
    if (k && root?.sha256 === served.sha256 && sameTarget(d.target.ref, ref) && d.state !== 'superseded') {
      trustedArchive = { path: k.path, sha256: k.sha256, ceremony: d.id };
      break;
    }
  }
  const at = now();
  const data: CeremonyData = {
    format: 1,
    id: store.newId(at),
    createdAt: at.toISOString(),
    updatedAt: at.toISOString(),
    state: 'draft',
    target: { kind: backend.kind, description: backend.description, ref },
    trusted: { ci: served },
    changes: o.changes,
    signatures: [],
    ...(trustedArchive ? { trustedArchive } : {}),
    ...(o.inputKeys?.(current) ? { inputKeys: o.inputKeys(current) } : {}),
    newKeys: [],
  };
  await store.create(data);
  await appendEvent(store.dir(data.id), { at, who: o.who, what: 'ceremony started', data: { target: backend.description, trustedVersion: current.version, trustedSha256: data.trusted?.ci.sha256 ?? '' } });
  return new Ceremony(store, data, o.who, now);
}

function doc(signed: JsonObject, signatures: JsonObject[] = []): RootDocument {
  return toDocument(signed, signatures);
}

function proposalDoc(name: 'root' | 'prod-root', old: Root, next: Root, document: RootDocument): ProposalDocument {
  const role = (r: Root) => ({ threshold: r.roles['root']?.threshold ?? 0, keyids: [...(r.roles['root']?.keyids ?? [])] });
  return { name, version: next.version, sha256: rootSha256(next), signers: { old: role(old), new: role(next) }, document };
}

/** After plan: the unsigned proposal and the new key's planned place (a Factory's txid makes it staged). */
export async function recordPlanned(c: Ceremony, prep: PreparedRotation, backend: Backend, o: { plannedPath?: string; inputKeys?: CeremonyData['inputKeys'] } = {}): Promise<void> {
  const plannedPath = o.plannedPath;
  const next = parseRoot(doc(prep.plan.newSigned) as unknown as JsonObject, 'the proposed root');
  const documents = [proposalDoc('root', prep.current, next, doc(prep.plan.newSigned))];
  if (prep.plan.prodSigned) documents.push(proposalDoc('prod-root', prep.current, parseRoot(doc(prep.plan.prodSigned) as unknown as JsonObject, 'the proposed production root'), doc(prep.plan.prodSigned)));
  const txid = txidOf(backend);
  const patch: Partial<CeremonyData> = {
    proposal: { newVersion: next.version, newKeyId: prep.plan.newKeyId, documents },
    newKeys: [
      {
        keyid: prep.plan.newKeyId,
        role: 'root',
        algorithm: prep.newKey?.algorithm ?? prep.newToken?.signer.publicKey.algorithm ?? 'unknown',
        ...(plannedPath !== undefined ? { plannedPath } : {}),
        ...(prep.newToken ? { token: { uri: prep.newToken.signer.uri, ...(prep.newToken.noBackupAck !== undefined ? { noBackupAck: prep.newToken.noBackupAck } : {}) } } : {}),
      },
    ],
    ...(txid !== undefined ? { txid } : {}),
    ...(o.inputKeys ? { inputKeys: o.inputKeys } : {}),
    ...(prep.expiredOverride ? { allowExpired: prep.expiredOverride } : {}),
  };
  const data = { newVersion: next.version, newKeyId: prep.plan.newKeyId, sha256: documents[0]?.sha256 ?? '' };
  if (txid !== undefined || backend.kind === 'factory' || backend.kind === 'practice') await c.transition('staged', 'planned; the target staged the transaction', patch, data);
  else await c.update('planned', patch, data);
}

/**
 * Before a saved run is published from the ceremony (a restart, another tab, publish WORKDIR): the
 * saved archive is unchanged on disk (Invariant 1), and the target still serves the root the run was
 * signed against (or already ours). Returns that trusted root.
 */
export async function checkBeforeRecoveryPublish(
  backend: Backend,
  run: { saved: { path: string; sha256: string } | undefined; root: { sha256: string }; trustedDoc: { sha256: string; document: unknown }; signed: string },
  progress: Progress,
): Promise<Root> {
  if (run.saved) {
    progress('check', 'Checking the saved key archive is unchanged on disk');
    const bytes = await readFileLimited(run.saved.path, NEW_ARCHIVE_LIMIT, 'key archive');
    if (sha256Hex(bytes) !== run.saved.sha256) {
      throw new AppError('ARCHIVE_READBACK_FAILED', `${run.saved.path} changed after it was saved (its SHA-256 differs).`, 'Do not publish; find the archive as it was saved.');
    }
  }
  const trusted = parseRoot(run.trustedDoc.document as JsonObject, 'the ceremony\'s trusted root');
  const current = await backend.currentRoot();
  if (rootSha256(current) !== run.trustedDoc.sha256 && rootSha256(current) !== run.root.sha256) {
    throw new AppError('TARGET_CONFLICT', `${backend.description} holds root version ${current.version}, not the version ${trusted.version} ${run.signed} against.`, 'Run tuf-rotate status: the target moved on without this ceremony.');
  }
  return trusted;
}

/** After sign: the signed documents and the signatures verified on them. */
export async function recordSigned(c: Ceremony, prep: PreparedRotation, signed: SignedRotation): Promise<void> {
  const documents = [proposalDoc('root', prep.current, signed.root, signed.document)];
  if (signed.prod) documents.push(proposalDoc('prod-root', prep.current, parseRoot(signed.prod as unknown as JsonObject, 'the production root'), signed.prod));
  const signatures: CeremonyData['signatures'] = [];
  for (const d of documents) for (const s of d.document.signatures) signatures.push({ document: d.name, keyid: String(s['keyid'] ?? ''), verified: signed.report.ok });
  const proposal = { newVersion: signed.root.version, newKeyId: prep.plan.newKeyId, documents };
  await c.transition('signed', 'signed and verified as a client would', { proposal, signatures }, { sha256: documents[0]?.sha256 ?? '', ok: signed.report.ok });
}

/** After save (invariant 1): where the new key is, proven. */
export async function recordSaved(c: Ceremony, saved: SavedArchive, at: Date): Promise<void> {
  const newKeys = c.data.newKeys.map((k) => (k.role === 'root' ? { ...k, archive: { path: saved.path, sha256: saved.sha256, provenAt: at.toISOString() } } : k));
  await c.transition('keys-saved', 'new key archive saved, read back and proven', { newKeys }, { path: saved.path, sha256: saved.sha256 });
}

export async function recordPublished(c: Ceremony, location: string, version: number, at: Date): Promise<void> {
  await c.transition('published', 'published, read back and verified', { published: { location, version, at: at.toISOString() } }, { location, version });
}

/**
 * Finishes an interrupted publish (recovery): publishes the ceremony's signed root to its target,
 * after checking the saved archive is unchanged and the target still serves the trusted root.
 */
export async function publishSaved(
  c: Ceremony,
  backend: Backend,
  now: Date,
  progress: Progress = () => {},
  /** The backend began this ceremony's Factory transaction in this process (it holds the txid). */
  live = false,
): Promise<{ location: string; readBack: Root; report: VerifyReport }> {
  const d = c.data;
  if (d.state !== 'keys-saved') {
    throw new AppError('SESSION_STATE', `Ceremony ${c.id} is ${d.state}: there is no saved-but-unpublished root to publish.`, 'Run tuf-rotate status to see what it allows.');
  }
  if (!live && (d.target.kind === 'factory' || d.target.kind === 'practice')) {
    throw new AppError('TARGET_NOT_CONFIGURED', 'Finishing an interrupted Factory publish (re-apply of the staged transaction) is not available in this build yet.', 'Keep both key archives; run tuf-rotate status to see the Factory\'s state.');
  }
  const saved = c.savedArchive();
  const root = c.proposalRoot('root');
  const trustedDoc = d.trusted?.ci;
  if (!saved || !root || !trustedDoc) throw new AppError('SESSION_STATE', `Ceremony ${c.id} has no saved archive or signed root.`, 'Start a new ceremony.');
  const trusted = await checkBeforeRecoveryPublish(backend, { saved, root, trustedDoc, signed: 'this ceremony signed' }, progress);
  await appendEvent(c.dir, { at: now, who: c.who, what: 'recovery publish started', data: { version: root.version } });
  const prod = c.proposalRoot('prod-root');
  const result = await publishRotation(backend, trusted, { document: root.document, prod: prod?.document }, now, progress);
  if (rootSha256(result.readBack) !== root.sha256) {
    throw new AppError('PUBLISH_FAILED', `${backend.description} serves a root other than the one this ceremony signed.`, 'Do not discard any key archive; compare the published root with the ceremony.');
  }
  await recordPublished(c, result.location, result.readBack.version, now);
  return result;
}
