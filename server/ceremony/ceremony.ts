/**
 * The ceremony: a file-backed object in the work folder (docs/ceremonies.md). It holds public facts
 * only: the target, the trusted root(s) as served, the changes asked, the proposal (documents,
 * their canonical bytes' SHA-256, who must sign), the signatures, where each new key is, the state
 * and, for a Factory, the transaction id. Every change is written to `ceremony.json` atomically
 * and appended to the hash-chained event log.
 */
import { AppError } from '../errors.js';
import type { TargetKind } from '../backends/backend.js';
import type { JsonObject } from '../tuf/json.js';
import type { RootDocument } from '../tuf/model.js';
import { appendEvent } from './log.js';
import type { CeremonyStore } from './store.js';

export type CeremonyState = 'draft' | 'staged' | 'signed' | 'keys-saved' | 'published' | 'cancelled' | 'partly-applied' | 'superseded';

export const TERMINAL: ReadonlySet<CeremonyState> = new Set(['published', 'cancelled', 'superseded']);

/** Where a transition may go from each state (reconcile may skip ahead: the target says so). */
const NEXT: Record<CeremonyState, readonly CeremonyState[]> = {
  draft: ['staged', 'signed', 'cancelled', 'superseded', 'published', 'partly-applied'],
  staged: ['signed', 'cancelled', 'superseded', 'published', 'partly-applied'],
  signed: ['keys-saved', 'cancelled', 'superseded', 'published', 'partly-applied'],
  'keys-saved': ['published', 'partly-applied', 'superseded', 'cancelled'],
  'partly-applied': ['published', 'superseded'],
  published: ['superseded'],
  cancelled: [],
  superseded: [],
};

/** How the ceremony finds its target again (no token: a Factory's token comes from the user each time). */
export type TargetRef =
  | { kind: 'repo'; dir: string }
  | { kind: 'offline'; rootFile?: string; outRoot?: string }
  | { kind: 'factory' | 'practice'; factory: string; apiUrl: string };

export interface ServedRoot {
  version: number;
  /** SHA-256 of the root's canonical signed bytes (what its signatures cover). */
  sha256: string;
  document: RootDocument;
}

export interface ProposalDocument {
  name: 'root' | 'prod-root';
  version: number;
  /** SHA-256 of the canonical signed bytes. */
  sha256: string;
  signers: { old: { threshold: number; keyids: string[] }; new: { threshold: number; keyids: string[] } };
  /** The document (public); unsigned until the sign step. */
  document: RootDocument;
}

/**
 * Several key changes: what is published beside the roots, once signed (public facts only), so
 * that `publish WORKDIR` can finish an interrupted run.
 */
export interface ChangesProposal {
  summary: string[];
  /** Standard repositories: the re-signed metadata files, in publishing order. */
  metadata?: { role: 'targets' | 'snapshot' | 'timestamp'; name: string; text: string; version: number }[];
  /** Factories: production tags and waves signed by the new offline targets key (E15/E16 bodies). */
  factoryTargets?: { targetsSignatures?: JsonObject; wavesSignatures?: JsonObject; tags: string[]; waves: string[] };
  /** After publish: what was published, by document name. */
  published?: string[];
}

export interface NewKey {
  keyid: string;
  role: string;
  algorithm: string;
  /** Where the archive is going to be written (known before the write). */
  plannedPath?: string;
  /** Once saved, read back and proven. */
  archive?: { path: string; sha256: string; provenAt: string };
  /** The key lives in a hardware token: its URI (no PIN) and the no-backup acknowledgement, if one was needed. */
  token?: { uri: string; noBackupAck?: string };
}

export interface CeremonyData {
  format: 1;
  id: string;
  createdAt: string;
  updatedAt: string;
  state: CeremonyState;
  /** Why the ceremony ended as cancelled or superseded. */
  reason?: string;
  target: { kind: TargetKind; description: string; ref: TargetRef };
  trusted?: { ci: ServedRoot; prod?: ServedRoot };
  changes: JsonObject[];
  proposal?: { newVersion: number; newKeyId: string; documents: ProposalDocument[]; changes?: ChangesProposal };
  /** What the ceremony runs: the root-key rotation (absent) or several key changes (`tuf-rotate change`, the page's changes). */
  run?: 'changes';
  signatures: { document: string; keyid: string; verified: boolean; stale?: boolean }[];
  /** The keys given as input, once shown to hold a key of the trusted root (at plan). */
  inputKeys?: { source: string; path?: string; sha256?: string };
  /** The archive an earlier ceremony of this folder published the trusted root with. */
  trustedArchive?: { path: string; sha256: string; ceremony: string };
  newKeys: NewKey[];
  txid?: string;
  published?: { location: string; version: number; at: string };
  /** #13: the current root had expired; the reason given to rotate from it anyway. */
  allowExpired?: { reason: string; expired: string };
  /** Reconcile saw the target serve a later root than ours (published, then moved on). */
  movedOnTo?: number;
}

/** The ceremony, bound to its folder: every change is saved, then logged. */
export class Ceremony {
  constructor(
    readonly store: CeremonyStore,
    public data: CeremonyData,
    readonly who: string,
    readonly now: () => Date = () => new Date(),
  ) {}

  get id(): string {
    return this.data.id;
  }

  get state(): CeremonyState {
    return this.data.state;
  }

  get dir(): string {
    return this.store.dir(this.data.id);
  }

  /** Saves a change of the facts (same state) and logs it. */
  async update(what: string, patch: Partial<CeremonyData>, data?: JsonObject): Promise<void> {
    this.data = { ...this.data, ...patch, updatedAt: this.now().toISOString() };
    await this.store.save(this.data);
    await appendEvent(this.dir, { at: this.now(), who: this.who, what, ...(data !== undefined ? { data } : {}) });
  }

  /** Moves to `to` (refused when the state machine does not allow it), saving and logging. */
  async transition(to: CeremonyState, what: string, patch: Partial<CeremonyData> = {}, data?: JsonObject): Promise<void> {
    const from = this.data.state;
    if (from !== to && !NEXT[from].includes(to)) {
      throw new AppError('SESSION_STATE', `The ceremony ${this.id} is ${from}; it cannot become ${to}.`, 'Run tuf-rotate status to see what the ceremony allows.');
    }
    await this.update(what, { ...patch, state: to }, { ...(data ?? {}), from, to });
  }

  /** The new key archive, once saved and proven (the root key's, or every generated key's for changes). */
  savedArchive(): { path: string; sha256: string } | undefined {
    const k = this.data.newKeys.find((x) => x.archive);
    return k?.archive ? { path: k.archive.path, sha256: k.archive.sha256 } : undefined;
  }

  proposalRoot(name: 'root' | 'prod-root' = 'root'): ProposalDocument | undefined {
    return this.data.proposal?.documents.find((d) => d.name === name);
  }
}

export function canTransition(from: CeremonyState, to: CeremonyState): boolean {
  return from === to || NEXT[from].includes(to);
}
