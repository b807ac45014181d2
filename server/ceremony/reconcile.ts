/**
 * Reconcile on every open (docs/ceremonies.md): the ceremony's state is derived from what the
 * target serves now, never from memory. Published = the target serves our new root's hash;
 * partly applied = a Factory's transaction is APPLYING, or its CI chain took our root and
 * production did not; staged = our transaction is open; someone else's transaction; superseded =
 * the target moved on without us. The valid key archive follows from the state.
 */
import path from 'node:path';
import type { Backend } from '../backends/backend.js';
import { FoundriesBackend } from '../backends/foundries.js';
import { LocalRepoBackend, ROOT_FILE_LIMIT } from '../backends/local-repo.js';
import { OfflineBackend } from '../backends/offline.js';
import { AppError } from '../errors.js';
import { canonicalBytes } from '../tuf/canonical-json.js';
import { parseRoot, toDocument } from '../tuf/metadata.js';
import type { Root } from '../tuf/model.js';
import { exists, readFileLimited, sha256Hex } from '../util/fs-atomic.js';
import { TERMINAL } from './ceremony.js';
import type { Ceremony, CeremonyData, CeremonyState, ServedRoot, TargetRef } from './ceremony.js';

export interface Reconciled {
  id: string;
  state: CeremonyState;
  target: { kind: string; description: string };
  /** The root version the target serves now (a Factory's CI chain). */
  version?: number;
  /** The version this ceremony publishes. */
  newVersion?: number;
  /** The key archive that signs for what the target serves (a path, or how the keys were given); null when it is not one of this ceremony's. */
  validArchive: string | null;
  validArchiveSha256?: string;
  /** The new key archive of this ceremony, once saved and proven. */
  newArchive?: { path: string; sha256: string };
  txid?: string;
  /** Whether the target could be read; when not, the state is the last one recorded. */
  reachable: boolean;
  /** A Factory transaction this ceremony did not open. */
  otherTransaction?: { status: string; createdBy?: string };
  movedOnTo?: number;
  /** The new root key lives in a hardware token: its URI and the no-backup acknowledgement. */
  newKeyToken?: { uri: string; noBackupAck?: string };
  /**
   * A change run of a standard repository whose root is published but whose re-signed metadata
   * (targets, snapshot, timestamp) is not: the files still to write. Clients cannot update their
   * targets until they are (the old targets key no longer signs for the new root).
   */
  pendingMetadata?: string[];
  message: string;
}

export function rootSha256(root: Root): string {
  return sha256Hex(canonicalBytes(root.dialect, root.signedJson));
}

export function servedRoot(root: Root): ServedRoot {
  return { version: root.version, sha256: rootSha256(root), document: toDocument(root.signedJson, root.signatures.map((s) => s.json)) };
}

/** How to find this backend's target again. */
export function refOf(b: Backend): TargetRef {
  if (b instanceof LocalRepoBackend) return { kind: 'repo', dir: b.dir };
  if (b instanceof OfflineBackend) {
    return { kind: 'offline', ...('file' in b.rootSource ? { rootFile: b.rootSource.file } : {}), ...(b.outRoot !== undefined ? { outRoot: b.outRoot } : {}) };
  }
  if (b instanceof FoundriesBackend) return { kind: b.kind === 'practice' ? 'practice' : 'factory', factory: b.client.factory, apiUrl: b.client.apiUrl };
  return { kind: 'offline' };
}

/** Whether two refs name the same target (same path; same Factory name and API URL). */
export function sameTarget(a: TargetRef, b: TargetRef): boolean {
  if (a.kind === 'repo' && b.kind === 'repo') return path.resolve(a.dir) === path.resolve(b.dir);
  if (a.kind === 'offline' && b.kind === 'offline') return a.rootFile === b.rootFile && a.outRoot === b.outRoot;
  if ((a.kind === 'factory' || a.kind === 'practice') && a.kind === b.kind) return a.factory === b.factory && a.apiUrl === b.apiUrl;
  return false;
}

/** A backend for a ceremony's target when no face supplied one (repositories and offline files; a Factory needs its token). */
export async function backendFromRef(ref: TargetRef, o: { env?: NodeJS.ProcessEnv; tokenFile?: string } = {}): Promise<Backend | undefined> {
  if (ref.kind === 'repo') return new LocalRepoBackend(ref.dir);
  if (ref.kind === 'offline') return ref.rootFile !== undefined ? new OfflineBackend({ file: ref.rootFile }, ref.outRoot) : undefined;
  const [{ FoundriesClient }, { loadToken }] = await Promise.all([import('../backends/foundries-client.js'), import('../backends/foundries-token.js')]);
  let token: string;
  try {
    const env = o.env ?? {};
    token = loadToken({ ...(o.tokenFile !== undefined ? { tokenFile: o.tokenFile } : {}), env, ...(env['HOME'] !== undefined ? { home: env['HOME'] } : {}) });
  } catch {
    return undefined;
  }
  return new FoundriesBackend(new FoundriesClient({ apiUrl: ref.apiUrl, factory: ref.factory, token }), { practice: ref.kind === 'practice' });
}

interface Observed {
  ci: Root;
  prod?: Root;
  /** Every version's hash the target still has (for "published, then moved on"). */
  history?: Map<number, string>;
  updates?: { status: string; createdBy?: string };
  /** Offline files: the new root file, if written. */
  outRoot?: Root;
  /** A standard repository's change run: re-signed metadata files the repository does not serve yet. */
  pendingMetadata?: string[];
}

/** The `signed.version` of a metadata file's text (0 when it cannot be read). */
export function metadataVersion(text: string): number {
  try {
    const v = (JSON.parse(text) as { signed?: { version?: unknown } }).signed?.version;
    return typeof v === 'number' ? v : 0;
  } catch {
    return 0;
  }
}

async function observe(c: CeremonyData, backend: Backend): Promise<Observed> {
  if (backend instanceof FoundriesBackend) {
    const ci = await backend.client.currentRoot();
    const prod = await backend.client.currentRoot(true).catch(() => undefined);
    const u = await backend.client.updates();
    const history = new Map<number, string>();
    const want = c.proposal?.newVersion;
    if (want !== undefined && ci.version > want) {
      const r = await backend.client.rootVersion(want).catch(() => undefined);
      if (r) history.set(want, rootSha256(r));
    }
    return {
      ci,
      ...(prod ? { prod } : {}),
      history,
      updates: { status: u.status, ...(u.changeMeta?.createdBy !== undefined ? { createdBy: u.changeMeta.createdBy } : {}) },
    };
  }
  if (backend instanceof OfflineBackend) {
    const ci = await backend.currentRoot();
    const out = backend.outRoot;
    if (out !== undefined && (await exists(out))) {
      return { ci, outRoot: parseRoot(await readFileLimited(out, ROOT_FILE_LIMIT, 'root metadata'), out) };
    }
    return { ci };
  }
  const ci = await backend.currentRoot();
  const history = new Map<number, string>();
  const want = c.proposal?.newVersion;
  if (want !== undefined && ci.version > want) {
    for (const r of await backend.history()) if (r.version === want) history.set(want, rootSha256(r));
  }
  const files = c.run === 'changes' ? (c.proposal?.changes?.metadata ?? []).filter((f) => !/^\d+\./.test(f.name)) : [];
  if (files.length > 0 && backend instanceof LocalRepoBackend) {
    const docs = await backend.readRepoDocs();
    // Pending: the repository still serves an older version than the one re-signed. A later version
    // (the repository's own targets or timestamp updates since) is not ours to write over.
    const pendingMetadata = files.filter((f) => docs[f.role] !== f.text && metadataVersion(docs[f.role]) < f.version).map((f) => f.name);
    if (pendingMetadata.length > 0) return { ci, history, pendingMetadata };
  }
  return { ci, history };
}

/** Derives the state from the target; moves the ceremony there (logged) and says what it means. */
export async function reconcile(c: Ceremony, backend: Backend | undefined): Promise<Reconciled> {
  let seen: Observed | undefined;
  let unreachable: string | undefined;
  if (!backend) unreachable = 'no way to read the target was given';
  else {
    try {
      seen = await observe(c.data, backend);
    } catch (e) {
      unreachable = e instanceof AppError ? e.message : 'the target could not be read';
    }
  }
  if (seen) await settle(c, seen);
  return view(c, seen, unreachable);
}

async function settle(c: Ceremony, seen: Observed): Promise<void> {
  const d = c.data;
  const ours = c.proposalRoot('root');
  const oursProd = c.proposalRoot('prod-root');
  const served = rootSha256(seen.ci);
  // Ours: signed here, or (several key changes on a Factory) staged here partly signed for the other admins to finish.
  const signedOurs = ours !== undefined && (d.signatures.length > 0 || (d.run === 'changes' && d.txid !== undefined));
  const at = new Date().toISOString();
  const move = async (to: CeremonyState, why: string, patch: Partial<CeremonyData> = {}): Promise<void> => {
    if (d.state === to && Object.keys(patch).length === 0) return;
    if (d.state === to) return c.update(`reconciled: ${why}`, patch);
    await c.transition(to, `reconciled: ${why}`, patch, { servedVersion: seen.ci.version, servedSha256: served });
  };

  // Offline files: "published" is the new root file holding our root.
  if (seen.outRoot && ours && rootSha256(seen.outRoot) === ours.sha256) {
    if (d.state !== 'published' && !TERMINAL.has(d.state)) {
      await move('published', 'the new root file holds our new root', { published: { location: d.target.ref.kind === 'offline' ? (d.target.ref.outRoot ?? '') : '', version: ours.version, at } });
    }
    return;
  }
  if (ours && signedOurs && served === ours.sha256) {
    const prodOk = !oursProd || (seen.prod !== undefined && rootSha256(seen.prod) === oursProd.sha256);
    const applying = seen.updates?.status === 'APPLYING';
    if (prodOk && !applying) {
      if (d.state !== 'published') {
        await move('published', 'the target serves our new root', { published: { location: d.target.description, version: ours.version, at } });
      } else if (d.movedOnTo !== undefined) {
        const { movedOnTo: _drop, ...rest } = d;
        c.data = rest;
        await c.update('reconciled: the target serves our new root again', {});
      }
    } else if (d.state !== 'partly-applied') {
      await move('partly-applied', applying ? 'the Factory transaction is APPLYING' : 'the CI root is ours, production is not');
    }
    return;
  }
  if (seen.updates?.status === 'APPLYING' && d.txid !== undefined && !TERMINAL.has(d.state)) {
    await move('partly-applied', 'the Factory transaction is APPLYING');
    return;
  }
  if (ours && seen.ci.version > ours.version && seen.history?.get(ours.version) === ours.sha256) {
    // Ours was published; a later root has been published since.
    if (d.state !== 'published') await move('published', 'our root is in the target\'s history', { published: { location: d.target.description, version: ours.version, at } });
    if (c.data.movedOnTo !== seen.ci.version) await c.update('reconciled: the target has moved on since', { movedOnTo: seen.ci.version });
    return;
  }
  const trusted = d.trusted?.ci;
  if (trusted && served !== trusted.sha256) {
    if (d.state === 'published' || d.state === 'cancelled' || d.state === 'superseded') return;
    await move('superseded', 'the target moved on without this ceremony', { reason: `the target now serves root version ${seen.ci.version}, which this ceremony did not publish` });
    return;
  }
  // The target still serves the trusted root.
  if (seen.updates && d.txid !== undefined && (d.state === 'staged' || d.state === 'signed' || d.state === 'keys-saved' || d.state === 'draft')) {
    if (seen.updates.status === 'NONE') {
      await move('cancelled', 'the Factory has no open transaction (cancelled, nothing applied)', { reason: 'the Factory transaction was cancelled; nothing was applied' });
    }
  }
}

function inputArchive(d: CeremonyData): { validArchive: string | null; validArchiveSha256?: string } {
  const k = d.inputKeys;
  if (!k) return d.trustedArchive ? { validArchive: d.trustedArchive.path, validArchiveSha256: d.trustedArchive.sha256 } : { validArchive: null };
  return { validArchive: k.path ?? k.source, ...(k.sha256 !== undefined ? { validArchiveSha256: k.sha256 } : {}) };
}

function view(c: Ceremony, seen: Observed | undefined, unreachable: string | undefined): Reconciled {
  const d = c.data;
  const saved = c.savedArchive();
  const ours = c.proposalRoot('root');
  const base: Omit<Reconciled, 'validArchive' | 'message'> = {
    id: d.id,
    state: d.state,
    target: { kind: d.target.kind, description: d.target.description },
    ...(seen ? { version: seen.ci.version } : d.trusted ? { version: d.trusted.ci.version } : {}),
    ...(ours ? { newVersion: ours.version } : {}),
    ...(saved ? { newArchive: saved } : {}),
    ...(d.txid !== undefined ? { txid: d.txid } : {}),
    reachable: seen !== undefined,
    ...(d.movedOnTo !== undefined ? { movedOnTo: d.movedOnTo } : {}),
    ...(d.newKeys.find((k) => k.token)?.token ? { newKeyToken: d.newKeys.find((k) => k.token)?.token as { uri: string; noBackupAck?: string } } : {}),
  };
  if (seen?.updates && seen.updates.status !== 'NONE' && (d.txid === undefined || TERMINAL.has(d.state))) {
    base.otherTransaction = { status: seen.updates.status, ...(seen.updates.createdBy !== undefined ? { createdBy: seen.updates.createdBy } : {}) };
  }
  const where = d.target.description;
  const note = unreachable !== undefined ? ` (${where} could not be read: ${unreachable}; this is the state last recorded)` : '';
  const input = inputArchive(d);
  const inputName = input.validArchive ?? 'the key archive you started from';
  const newName = saved?.path ?? 'the new key archive';
  switch (d.state) {
    case 'published':
      if (d.movedOnTo !== undefined) {
        return { ...base, validArchive: null, message: `This ceremony published root version ${d.published?.version ?? '?'} of ${where}; the target has since moved on to version ${d.movedOnTo}, so the valid key archive is the one of the ceremony that published version ${d.movedOnTo}, not ${newName}.${note}` };
      }
      if (seen?.pendingMetadata !== undefined && ours !== undefined && rootSha256(seen.ci) === ours.sha256) {
        const files = seen.pendingMetadata.join(', ');
        return {
          ...base,
          pendingMetadata: seen.pendingMetadata,
          validArchive: saved?.path ?? input.validArchive,
          ...(saved ? { validArchiveSha256: saved.sha256 } : input.validArchiveSha256 !== undefined ? { validArchiveSha256: input.validArchiveSha256 } : {}),
          message: `Root version ${ours.version} of ${where} is published, but the re-signed ${files} ${seen.pendingMetadata.length === 1 ? 'is' : 'are'} not written yet: clients cannot update their targets until ${seen.pendingMetadata.length === 1 ? 'it is' : 'they are'}. Finish the publish now (tuf-rotate publish WORKDIR, or the page's button): the signed files are kept in the ceremony.${note}`,
        };
      }
      if (!saved && d.run === 'changes') {
        // Changes that generated no key (thresholds, expiry, removals): the keys given stay the valid ones.
        return { ...base, ...input, message: `Root version ${d.published?.version ?? ours?.version ?? '?'} of ${where} is published (no new key was generated); ${inputName} is still the valid key archive.${note}` };
      }
      return { ...base, validArchive: saved?.path ?? null, ...(saved ? { validArchiveSha256: saved.sha256 } : {}), message: `Root version ${d.published?.version ?? ours?.version ?? '?'} of ${where} is published; the new key archive ${newName} is the valid one.${note}` };
    case 'partly-applied':
      return { ...base, validArchive: saved?.path ?? null, ...(saved ? { validArchiveSha256: saved.sha256 } : {}), message: `The rotation of ${where} to version ${ours?.version ?? '?'} is partly applied (the CI root is new, production is not yet). The new key archive ${newName} is the valid one; finish with tuf-rotate publish WORKDIR (re-apply).${note}` };
    case 'superseded':
      return { ...base, validArchive: null, message: `${where} moved on without this ceremony (${d.reason ?? 'it serves a root this ceremony did not publish'}). Neither ${inputName} nor ${newName} is known to sign for it: the valid archive is the one of whoever published the current root.${note}` };
    case 'cancelled':
      return { ...base, ...input, message: `This ceremony was cancelled (${d.reason ?? 'nothing was published'}); ${where} still serves version ${base.version ?? '?'} and ${inputName} is still the valid key archive.${note}` };
    case 'keys-saved':
      if (d.run === 'changes') {
        const what = saved ? `The new key archive ${newName} for version ${ours?.version ?? '?'} is saved` : `The changes for version ${ours?.version ?? '?'} are signed`;
        return { ...base, ...input, message: `${what}, but the changes are not published: ${inputName} is still the valid one. Keep both; run tuf-rotate publish WORKDIR to finish (it publishes the root${d.proposal?.changes?.metadata ? ' and the re-signed metadata' : ''}${d.proposal?.changes?.factoryTargets ? ' with the production and wave targets signatures' : ''}).${note}` };
      }
      return { ...base, ...input, message: `The new key archive ${newName} for version ${ours?.version ?? '?'} is saved, but the new root is not published: ${inputName} is still the valid one. Keep both; run tuf-rotate publish WORKDIR to finish.${note}` };
    case 'signed':
    case 'staged':
    case 'draft':
      return { ...base, ...input, message: `A rotation of ${where}${ours ? ` to version ${ours.version}` : ''} was started (${d.state}) but its keys were never saved: nothing was published and ${inputName} is still the valid key archive.${note}` };
  }
}
