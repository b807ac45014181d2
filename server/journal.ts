/**
 * The ceremony journal (product.md invariant 7): a small JSON file, written atomically (temp file,
 * fsync, rename; mode 0600), that says how far a rotation got, so the next start can tell the user
 * which state they are in. It holds public data only: target description, versions, key ID, the
 * saved archive's path and SHA-256, and the signed new root (public) so a publish can be completed
 * after a restart. Never a private key, never a token.
 *
 * Two copies with the same content: `<workDir>/.tuf-rotate-journal.json` (the pointer the server
 * reads on start) and, once the archive is saved, `<archive>.journal.json` beside it.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Json, JsonObject } from './tuf/json.js';
import type { RootDocument } from './tuf/model.js';
import { writeFileAtomic } from './util/fs-atomic.js';

export const JOURNAL_POINTER = '.tuf-rotate-journal.json';
const MAX_JOURNAL_BYTES = 4 * 1024 * 1024;

export type JournalStep = 'planned' | 'saved' | 'published';

export interface Journal {
  format: 1;
  step: JournalStep;
  steps: { step: JournalStep; at: string }[];
  target: { kind: string; description: string };
  oldVersion: number;
  newVersion: number;
  newKeyId: string;
  /** The new root key lives in a hardware token: its URI (no PIN) and the no-backup acknowledgement, if one was needed. */
  newKeyToken?: { uri: string; noBackupAck?: string };
  /** The trusted (old) root, as a document: what a recovery publish verifies against. */
  oldRoot?: RootDocument;
  /** The signed new root (and a Factory's production root): public. */
  signedRoot?: RootDocument;
  prodRoot?: RootDocument;
  archive?: { path: string; sha256: string };
  published?: { location: string; version: number };
  /** #13: the current root had expired; the reason given to rotate from it anyway (lead: carry into server/ceremony/). */
  allowExpired?: { reason: string; expired: string };
}

export type RecoveryState = 'nothing-published' | 'keys-saved-not-published' | 'published';

export function journalPointer(workDir: string): string {
  return path.join(workDir, JOURNAL_POINTER);
}

export function archiveJournal(archivePath: string): string {
  return `${archivePath}.journal.json`;
}

/** Writes the journal to the work dir's pointer and, when the archive is known, beside it. */
export async function writeJournal(workDir: string, j: Journal): Promise<void> {
  const text = JSON.stringify(j, null, 2) + '\n';
  if (j.archive) await writeFileAtomic(archiveJournal(j.archive.path), text, { mode: 0o600, overwrite: true });
  await writeFileAtomic(journalPointer(workDir), text, { mode: 0o600, overwrite: true });
}

/** Adds a step to a journal (returns a new object). */
export function withStep(j: Journal, step: JournalStep, at: Date, extra: Partial<Journal> = {}): Journal {
  return { ...j, ...extra, step, steps: [...j.steps, { step, at: at.toISOString() }] };
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The journal of the work dir, or undefined when there is none (or it cannot be read as one). */
export async function readJournal(workDir: string): Promise<Journal | undefined> {
  let text: string;
  try {
    const st = await fs.stat(journalPointer(workDir));
    if (!st.isFile() || st.size > MAX_JOURNAL_BYTES) return undefined;
    text = await fs.readFile(journalPointer(workDir), 'utf8');
  } catch {
    return undefined;
  }
  let v: Json;
  try {
    v = JSON.parse(text) as Json;
  } catch {
    return undefined;
  }
  if (!isObject(v) || v['format'] !== 1) return undefined;
  const step = v['step'];
  if (step !== 'planned' && step !== 'saved' && step !== 'published') return undefined;
  if (typeof v['newVersion'] !== 'number' || typeof v['oldVersion'] !== 'number') return undefined;
  const j = v as unknown as Journal;
  // The copy beside the archive wins if it is further along (the pointer is written second).
  if (j.archive) {
    try {
      const beside = JSON.parse(await fs.readFile(archiveJournal(j.archive.path), 'utf8')) as Journal;
      if (beside.format === 1 && beside.steps.length > j.steps.length) return beside;
    } catch {
      // The pointer alone will do.
    }
  }
  return j;
}

/** What the journal means for the user on this start. */
export function recoveryOf(j: Journal | undefined): { state: RecoveryState; message: string; archive?: string; archiveSha256?: string; version?: number } {
  if (!j || j.step === 'planned') {
    return {
      state: 'nothing-published',
      message: j
        ? `A rotation of ${j.target.description} to version ${j.newVersion} was planned but its keys were never saved: nothing was published and the old key archive is still the valid one.`
        : 'No rotation was published from this folder: the old key archive is the valid one.',
      ...(j ? { version: j.oldVersion } : {}),
    };
  }
  const archive = j.archive ? { archive: j.archive.path, archiveSha256: j.archive.sha256 } : {};
  if (j.step === 'saved') {
    return {
      state: 'keys-saved-not-published',
      message:
        `The new key archive for ${j.target.description} version ${j.newVersion} was saved${j.archive ? ` to ${j.archive.path}` : ''}, ` +
        'but the new root was not published. Keep both archives; publish the saved root again (POST /api/recovery/publish) to finish.',
      ...archive,
      version: j.newVersion,
    };
  }
  return {
    state: 'published',
    message: `Root version ${j.published?.version ?? j.newVersion} of ${j.target.description} was published${j.published ? ` (${j.published.location})` : ''}; the new key archive${j.archive ? ` ${j.archive.path}` : ''} is the valid one.`,
    ...archive,
    version: j.published?.version ?? j.newVersion,
  };
}
