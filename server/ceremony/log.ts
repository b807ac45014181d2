/**
 * The ceremony's event log: append-only JSON lines in `events.jsonl`, each event carrying the
 * SHA-256 of the line before it (`prev`), so a removed or edited event breaks the chain. Public
 * facts only: times, who (the name the operator gives), what, results; never a secret.
 */
import { createHash } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import type { JsonObject } from '../tuf/json.js';

export const LOG_FILE = 'events.jsonl';
export const GENESIS = '0'.repeat(64);
const MAX_LOG_BYTES = 16 * 1024 * 1024;

export interface CeremonyEvent {
  seq: number;
  at: string;
  who: string;
  what: string;
  data?: JsonObject;
  /** SHA-256 of the previous event's line (GENESIS for the first). */
  prev: string;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** The lines of the log; a torn last line (a crash mid-append) is not an event and is left out. */
async function readLines(file: string): Promise<{ lines: string[]; tornAt: number | undefined }> {
  let text: string;
  try {
    const st = await fs.stat(file);
    if (st.size > MAX_LOG_BYTES) throw new Error(`${file} is larger than ${MAX_LOG_BYTES} bytes`);
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { lines: [], tornAt: undefined };
    throw e;
  }
  const end = text.lastIndexOf('\n') + 1;
  const lines = text.slice(0, end).split('\n').filter((l) => l !== '');
  return { lines, tornAt: end < text.length ? Buffer.byteLength(text.slice(0, end)) : undefined };
}

export async function readLog(dir: string): Promise<CeremonyEvent[]> {
  const { lines } = await readLines(path.join(dir, LOG_FILE));
  return lines.map((l) => JSON.parse(l) as CeremonyEvent);
}

/** Checks the chain: seq 0, 1, 2, … and each `prev` the hash of the line before. */
export async function verifyLog(dir: string): Promise<{ ok: boolean; events: number; brokenAt?: number }> {
  const { lines } = await readLines(path.join(dir, LOG_FILE));
  let prev = GENESIS;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    let e: CeremonyEvent;
    try {
      e = JSON.parse(line) as CeremonyEvent;
    } catch {
      return { ok: false, events: lines.length, brokenAt: i };
    }
    if (e.seq !== i || e.prev !== prev) return { ok: false, events: lines.length, brokenAt: i };
    prev = sha256(line);
  }
  return { ok: true, events: lines.length };
}

/** Appends one event (fsynced), chained to the last complete one. */
export async function appendEvent(dir: string, e: { at: Date; who: string; what: string; data?: JsonObject }): Promise<CeremonyEvent> {
  const file = path.join(dir, LOG_FILE);
  const { lines, tornAt } = await readLines(file);
  if (tornAt !== undefined) await fs.truncate(file, tornAt);
  const last = lines[lines.length - 1];
  const event: CeremonyEvent = {
    seq: lines.length,
    at: e.at.toISOString(),
    who: e.who,
    what: e.what,
    ...(e.data !== undefined ? { data: e.data } : {}),
    prev: last === undefined ? GENESIS : sha256(last),
  };
  const h = await fs.open(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
  try {
    await h.write(JSON.stringify(event) + '\n');
    await h.sync();
  } finally {
    await h.close();
  }
  return event;
}
