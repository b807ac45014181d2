/**
 * The ceremony record: an append-only event log in which every event carries the SHA-256 of the one
 * before (over its OLPC canonical JSON), plus a summary, signed at the end with the new root keys
 * the ceremony holds. `verifyRecord` checks the chain, the summary binding and the signatures
 * against the published root. No secrets are ever written into an event.
 */
import { createHash } from 'node:crypto';
import { AppError } from '../errors.js';
import { canonicalSpec } from '../tuf/canonical-json.js';
import { shortKeyId } from '../tuf/diff.js';
import { isJsonObject, type Json, type JsonObject } from '../tuf/json.js';
import { publicKeyOf, samePublicKey } from '../tuf/public-key.js';
import { parseRoot } from '../tuf/metadata.js';
import type { Root, Signer } from '../tuf/model.js';
import { signatureMethod, verifySignature } from '../tuf/sign.js';

export const RECORD_FORMAT = 'tuf-rotate/ceremony-record';
export const GENESIS = '0'.repeat(64);

export interface RecordEvent {
  seq: number;
  /** ISO time. */
  at: string;
  /** The name the operator gave (`--who`), or the holder label. */
  who: string;
  /** `request-written`, `signature-added`, `signature-refused`, `published`, … */
  what: string;
  data: JsonObject;
  /** SHA-256 of the previous event's canonical JSON; 64 zeros for the first. */
  prev: string;
}

export interface RecordSigned {
  request: string;
  sas: string;
  summary: string[];
  target: JsonObject;
  /** `sha256` of the published file's bytes (what `sha256sum N.root.json` prints). */
  published: { version: number; sha256: string; location: string };
  /** Those bytes, base64, so the record can be checked on its own; a target anchors it. */
  publishedRoot: string;
  events: RecordEvent[];
  /** Hash of the last event. */
  head: string;
}

export interface CeremonyRecord {
  format: typeof RECORD_FORMAT;
  formatVersion: 1;
  signed: RecordSigned;
  /** Over the OLPC canonical JSON of `signed`, by root keys of the published root. */
  signatures: { keyid: string; method: string; sig: string }[];
}

const sha256Hex = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

export function eventHash(e: RecordEvent): string {
  return sha256Hex(canonicalSpec(e as unknown as Json, 'event'));
}

/** Appends an event to the log (returns a new array); the new event links to the last. */
export function appendEvent(events: readonly RecordEvent[], e: { at: Date; who: string; what: string; data: JsonObject }): RecordEvent[] {
  const last = events[events.length - 1];
  const event: RecordEvent = {
    seq: events.length + 1,
    at: e.at.toISOString(),
    who: e.who,
    what: e.what,
    data: e.data,
    prev: last === undefined ? GENESIS : eventHash(last),
  };
  return [...events, event];
}

function tampered(message: string): AppError {
  return new AppError('RECORD_TAMPERED', message, 'Treat this record as untrustworthy; compare it with the copy kept by the coordinator.');
}

/** The chain: seq 1, 2, 3…, each `prev` the hash of the one before; returns the head hash. */
export function checkChain(events: readonly RecordEvent[]): string {
  let prev = GENESIS;
  events.forEach((e, i) => {
    if (e.seq !== i + 1) throw tampered(`event ${i + 1} carries sequence number ${String(e.seq)}: an event was removed, added or reordered`);
    if (e.prev !== prev) throw tampered(`event ${e.seq} (${e.what}) does not link to the event before it: an event was edited or removed`);
    prev = eventHash(e);
  });
  return prev;
}

/** Signs the record with the given keys (each must be a root key of the published root). */
export async function signRecord(signed: RecordSigned, keys: { keyid: string; signer: Signer }[]): Promise<CeremonyRecord> {
  const bytes = canonicalSpec(signed as unknown as Json, 'signed');
  const signatures: CeremonyRecord['signatures'] = [];
  for (const { keyid, signer } of keys) {
    const sig = await signer.sign(bytes);
    if (!verifySignature(signer.publicKey, bytes, sig)) {
      throw new AppError('SIGNING_FAILED', `the record signature made with key ${shortKeyId(keyid)} does not verify`, 'The key is faulty; the record was not written.');
    }
    signatures.push({ keyid, method: signatureMethod(signer.publicKey.algorithm), sig: Buffer.from(sig).toString('base64') });
  }
  return { format: RECORD_FORMAT, formatVersion: 1, signed, signatures };
}

export interface RecordCheck {
  ok: true;
  events: number;
  head: string;
  publishedVersion: number;
  /** Key IDs whose signatures verified, and how many the published root's root role needs. */
  signedBy: string[];
  rootThreshold: number;
  anchored: boolean;
}

export function parseRecord(text: string | Uint8Array): CeremonyRecord {
  let v: unknown;
  try {
    v = JSON.parse(typeof text === 'string' ? text : Buffer.from(text).toString('utf8'));
  } catch {
    throw new AppError('RECORD_INVALID', 'the record is not valid JSON', 'Give the RECORD.json that tuf-rotate publish wrote.');
  }
  const r = v as Partial<CeremonyRecord>;
  if (!isJsonObject(v) || r.format !== RECORD_FORMAT || r.formatVersion !== 1 || !isJsonObject(r.signed as unknown) || !Array.isArray(r.signatures)) {
    throw new AppError('RECORD_INVALID', `the file is not a ${RECORD_FORMAT} version 1`, 'Give the RECORD.json that tuf-rotate publish wrote.');
  }
  const s = r.signed as RecordSigned;
  if (!Array.isArray(s.events) || !isJsonObject(s.published as unknown) || typeof s.publishedRoot !== 'string' || typeof s.head !== 'string') {
    throw new AppError('RECORD_INVALID', 'the record lacks its events, head or published root', 'Give the RECORD.json that tuf-rotate publish wrote.');
  }
  return r as CeremonyRecord;
}

/**
 * Checks the chain, the head, the published root's hash, and that every signature is by a root key
 * of the published root and verifies (at least one). `served`, when given, is the root the target
 * serves at the published version: it must be the same document (anchors the record).
 */
export function verifyRecord(rec: CeremonyRecord, served?: Uint8Array): RecordCheck {
  const s = rec.signed;
  const head = checkChain(s.events);
  if (head !== s.head) throw tampered('the record head is not the hash of its last event: events were removed from the end or edited');
  const rootBytes = Buffer.from(s.publishedRoot, 'base64');
  if (sha256Hex(rootBytes) !== s.published.sha256) throw tampered('the published root in the record does not hash to the SHA-256 the record states');
  let root: Root;
  try {
    root = parseRoot(rootBytes, 'the published root in the record');
  } catch {
    throw tampered('the published root in the record is not a valid root');
  }
  if (root.version !== s.published.version) throw tampered(`the record's published root is version ${root.version}, not ${s.published.version}`);
  if (served !== undefined && sha256Hex(served) !== s.published.sha256) {
    throw tampered(`the target serves other bytes as root version ${root.version} than the ones this record says were published`);
  }
  const role = root.roles['root'];
  if (role === undefined) throw tampered('the published root has no root role');
  if (rec.signatures.length === 0) throw tampered('the record carries no signature');
  const bytes = canonicalSpec(s as unknown as Json, 'signed');
  const signedBy: string[] = [];
  for (const sig of rec.signatures) {
    const key = root.keys[sig.keyid];
    if (!role.keyids.includes(sig.keyid) || key === undefined) throw tampered(`the record is signed by key ${shortKeyId(sig.keyid)}, which is not a root key of version ${root.version}`);
    const pub = publicKeyOf(key);
    const raw = typeof sig.sig === 'string' ? Buffer.from(sig.sig, 'base64') : Buffer.alloc(0);
    if (!verifySignature(pub, bytes, raw)) throw tampered(`the record's signature by key ${shortKeyId(sig.keyid)} does not verify: the record was changed after it was signed`);
    if (signedBy.some((id) => samePublicKey(publicKeyOf(root.keys[id] ?? key), pub))) continue;
    signedBy.push(sig.keyid);
  }
  return { ok: true, events: s.events.length, head, publishedVersion: root.version, signedBy, rootThreshold: role.threshold, anchored: served !== undefined };
}
