/**
 * The ceremony's record of a run of several key changes (server/changes/), the equivalent of
 * steps.ts's recordPlanned/recordSigned/recordSaved for the root rotation, and the finish of an
 * interrupted change run (`publish WORKDIR`, the page's recovery publish): the saved roots, the
 * re-signed metadata of a standard repository, the production/wave targets signatures of a Factory.
 */
import type { Backend } from '../backends/backend.js';
import { FoundriesBackend } from '../backends/foundries.js';
import { LocalRepoBackend } from '../backends/local-repo.js';
import type { Progress, SavedArchive } from '../ceremony.js';
import type { AskedChange } from '../change-keys.js';
import type { PreparedChanges } from '../changes/prepare.js';
import { publishChanges } from '../changes/publish.js';
import type { PublishedChanges } from '../changes/publish.js';
import type { SignedChanges } from '../changes/sign.js';
import { AppError } from '../errors.js';
import type { JsonObject } from '../tuf/json.js';
import { keyIdFor } from '../tuf/public-key.js';
import { parseRoot, toDocument } from '../tuf/metadata.js';
import type { Root, RootDocument } from '../tuf/model.js';
import type { MetadataFile } from '../tuf/repo-metadata.js';
import type { Ceremony, CeremonyData, ChangesProposal, ProposalDocument } from './ceremony.js';
import { appendEvent } from './log.js';
import { metadataVersion, rootSha256 } from './reconcile.js';
import { checkBeforeRecoveryPublish, recordPublished, txidOf } from './steps.js';

/** The changes as the ceremony records them (its `changes` list): each asked change and the type of the keys generated. */
export function changesRecord(asked: readonly AskedChange[], keyType: string): JsonObject[] {
  return asked.map((a) => ({ op: a.kind, ...(a as unknown as JsonObject), keyType }));
}

function proposalDoc(name: 'root' | 'prod-root', old: Root, next: Root, document: RootDocument): ProposalDocument {
  const role = (r: Root): { threshold: number; keyids: string[] } => ({ threshold: r.roles['root']?.threshold ?? 0, keyids: [...(r.roles['root']?.keyids ?? [])] });
  return { name, version: next.version, sha256: rootSha256(next), signers: { old: role(old), new: role(next) }, document };
}

function documents(prep: PreparedChanges, root: RootDocument, prod: RootDocument | undefined): ProposalDocument[] {
  const out = [proposalDoc('root', prep.current, parseRoot(root as unknown as JsonObject, 'the proposed root'), root)];
  if (prod !== undefined) out.push(proposalDoc('prod-root', prep.current, parseRoot(prod as unknown as JsonObject, 'the proposed production root'), prod));
  return out;
}

/** The first new root key (else the first new key): the ceremony's `newKeyId`. */
function mainNewKey(prep: PreparedChanges): string {
  return (prep.plan.newKeys.find((k) => k.role === 'root') ?? prep.plan.newKeys[0])?.keyid ?? '';
}

/** After plan: the unsigned proposal and every key generated for it (a Factory's txid makes it staged). */
export async function recordChangesPlanned(c: Ceremony, prep: PreparedChanges, o: { plannedPath?: string; inputKeys?: CeremonyData['inputKeys'] } = {}): Promise<void> {
  const plan = prep.plan;
  const docs = documents(prep, toDocument(plan.newSigned, []), plan.prodSigned !== undefined ? toDocument(plan.prodSigned, []) : undefined);
  const generated = new Set(prep.generated.map((g) => keyIdFor(plan.dialect, g.key.publicKey)));
  const txid = txidOf(prep.backend);
  const patch: Partial<CeremonyData> = {
    run: 'changes',
    proposal: { newVersion: docs[0]?.version ?? 0, newKeyId: mainNewKey(prep), documents: docs, changes: { summary: plan.summary } },
    newKeys: plan.newKeys
      .filter((k) => generated.has(k.keyid))
      .map((k) => ({ keyid: k.keyid, role: k.role, algorithm: k.publicKey.algorithm, ...(o.plannedPath !== undefined ? { plannedPath: o.plannedPath } : {}) })),
    ...(txid !== undefined ? { txid } : {}),
    ...(o.inputKeys ? { inputKeys: o.inputKeys } : {}),
    ...(prep.expiredOverride ? { allowExpired: prep.expiredOverride } : {}),
  };
  const data = { newVersion: docs[0]?.version ?? 0, changes: plan.summary.join('; '), sha256: docs[0]?.sha256 ?? '', ...(prep.expiredOverride ? { expiredRootOverride: prep.expiredOverride.reason } : {}) };
  if (txid !== undefined || prep.factory) await c.transition('staged', 'changes planned; the target staged the transaction', patch, data);
  else await c.update('changes planned', patch, data);
}

/** After sign: the signed roots, the signatures verified on them, and what is published beside them. */
export async function recordChangesSigned(c: Ceremony, prep: PreparedChanges, signed: SignedChanges): Promise<void> {
  const docs = documents(prep, signed.root, signed.prod);
  const signatures: CeremonyData['signatures'] = [];
  for (const d of docs) for (const s of d.document.signatures) signatures.push({ document: d.name, keyid: String(s['keyid'] ?? ''), verified: signed.report.ok });
  for (const m of signed.metadata) {
    if (/^\d+\./.test(m.name)) continue;
    const doc = JSON.parse(m.text) as { signatures?: { keyid?: string }[] };
    for (const s of doc.signatures ?? []) signatures.push({ document: m.name, keyid: String(s.keyid ?? ''), verified: true });
  }
  const changes: ChangesProposal = {
    summary: prep.plan.summary,
    ...(signed.metadata.length > 0 ? { metadata: signed.metadata.map((m) => ({ role: m.role, name: m.name, text: m.text, version: m.version })) } : {}),
    ...(signed.factoryTargets !== undefined ? { factoryTargets: signed.factoryTargets } : {}),
  };
  const proposal = { newVersion: signed.parsed.version, newKeyId: mainNewKey(prep), documents: docs, changes };
  await c.transition('signed', 'changes signed and verified as a client would', { proposal, signatures }, { sha256: docs[0]?.sha256 ?? '', ok: signed.report.ok });
}

/** After save (invariant 1): the one archive holding every new key, proven. */
export async function recordChangesSaved(c: Ceremony, saved: SavedArchive, at: Date): Promise<void> {
  const archive = { path: saved.path, sha256: saved.sha256, provenAt: at.toISOString() };
  const newKeys = c.data.newKeys.map((k) => ({ ...k, archive }));
  await c.transition('keys-saved', newKeys.length > 1 ? `new key archive saved, read back and ${newKeys.length} new keys proven` : 'new key archive saved, read back and proven', { newKeys }, { path: saved.path, sha256: saved.sha256 });
}

/** After publish: the published state and what was published. */
export async function recordChangesPublished(c: Ceremony, result: PublishedChanges, at: Date): Promise<void> {
  const proposal = c.data.proposal;
  if (proposal?.changes) c.data = { ...c.data, proposal: { ...proposal, changes: { ...proposal.changes, published: result.published } } };
  await recordPublished(c, result.location, result.readBack.version, at);
}

/**
 * Finishes an interrupted change run (keys saved, nothing or part published): checks the saved
 * archive is unchanged and the target still serves the trusted root (or already our new one),
 * then publishes the ceremony's signed roots with the re-signed metadata (standard repository)
 * or the production/wave targets signatures (Factory, in the ceremony's open transaction).
 */
export async function publishSavedChanges(c: Ceremony, backend: Backend, now: Date, progress: Progress = () => {}): Promise<PublishedChanges> {
  const d = c.data;
  if (d.state !== 'keys-saved') {
    throw new AppError('SESSION_STATE', `Ceremony ${c.id} is ${d.state}: there are no saved-but-unpublished changes to publish.`, 'Run tuf-rotate status to see what it allows.');
  }
  const saved = c.savedArchive();
  const root = c.proposalRoot('root');
  const prod = c.proposalRoot('prod-root');
  const trustedDoc = d.trusted?.ci;
  const extra = d.proposal?.changes;
  if (!root || !trustedDoc || !extra) throw new AppError('SESSION_STATE', `Ceremony ${c.id} has no signed changes recorded.`, 'Start a new ceremony.');
  const trusted = await checkBeforeRecoveryPublish(backend, { saved, root, trustedDoc, signed: 'these changes were signed' }, progress);
  if (backend instanceof FoundriesBackend) {
    if (d.txid === undefined) throw new AppError('SESSION_STATE', `Ceremony ${c.id} recorded no Factory transaction.`, 'Run tuf-rotate status; cancel the Factory\'s transaction and start again.');
    await backend.resume(d.txid); // refused when the transaction is no longer open
  } else if (extra.metadata !== undefined && extra.metadata.length > 0) {
    if (!(backend instanceof LocalRepoBackend)) throw new AppError('TARGET_NOT_CONFIGURED', 'Re-signed metadata can only be written to a local repository.', 'Name the repository with --repo DIR.');
    await requireMetadataBase(backend, extra.metadata);
  }
  await appendEvent(c.dir, { at: now, who: c.who, what: 'recovery publish started', data: { version: root.version } });
  const metadata: MetadataFile[] = (extra.metadata ?? []).map((m) => ({ ...m }));
  const result = await publishChanges(backend, trusted, { root: root.document, ...(prod ? { prod: prod.document } : {}), metadata, ...(extra.factoryTargets ? { factoryTargets: extra.factoryTargets } : {}) }, now, progress);
  if (rootSha256(result.readBack) !== root.sha256) {
    throw new AppError('PUBLISH_FAILED', `${backend.description} serves a root other than the one this ceremony signed.`, 'Do not discard any key archive; compare the published root with the ceremony.');
  }
  await recordChangesPublished(c, result, now);
  return result;
}

/** The repository's metadata is still what the changes re-signed (each served version is below ours), else nothing is written. */
async function requireMetadataBase(backend: LocalRepoBackend, files: NonNullable<ChangesProposal['metadata']>): Promise<void> {
  const docs = await backend.readRepoDocs();
  for (const f of files) {
    if (/^\d+\./.test(f.name)) continue;
    const text = docs[f.role];
    if (text === f.text) continue;
    const served = (JSON.parse(text) as { signed?: { version?: number } }).signed?.version ?? 0;
    if (served >= f.version) {
      throw new AppError('TARGET_CONFLICT', `${backend.dir} serves ${f.role}.json version ${served}; these changes re-signed version ${f.version} from an older one.`, 'Nothing was written. The repository moved on: start the changes again from its current state.');
    }
  }
}

/**
 * A change run killed between the root and the re-signed metadata of a standard repository: the
 * target serves our root (so the ceremony reconciles to published) but not our metadata. Writes
 * the recorded metadata when the repository still serves older versions; returns the files written.
 */
export async function finishChangeMetadata(c: Ceremony, backend: Backend): Promise<string[]> {
  const files = c.data.proposal?.changes?.metadata;
  if (c.data.run !== 'changes' || c.data.state !== 'published' || files === undefined || files.length === 0 || !(backend instanceof LocalRepoBackend)) return [];
  const root = c.proposalRoot('root');
  if (!root || rootSha256(await backend.currentRoot()) !== root.sha256) return []; // the repository moved on: not ours to finish
  const docs = await backend.readRepoDocs();
  // Only files the repository still serves in an older version; a later one is the repository's own update since.
  const pending = files.some((f) => !/^\d+\./.test(f.name) && docs[f.role] !== f.text && metadataVersion(docs[f.role]) < f.version);
  if (!pending) return [];
  await requireMetadataBase(backend, files);
  const written = await backend.publishMetadata(files.map((m) => ({ ...m })));
  await c.update('re-signed metadata written after an interrupted publish', {}, { files: written.length });
  return written;
}
