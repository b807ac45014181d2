/**
 * Signatures for a signing request: the `tuf-rotate/signatures` file a holder's tuf-rotate writes,
 * raw signatures made with `openssl pkeyutl` or `pkcs11-tool` (binary, base64 or hex), and the
 * coordinator's companion state (`REQ.sigs.json`) that collects them. Every signature is verified
 * against the expected key over the exact bytes of its document before it counts; RSA-PSS must use
 * a 32-byte salt (what the Foundries server and every TUF signer emit), recovered from the signature.
 */
import { constants as cryptoConstants, createHash, createPublicKey, publicDecrypt } from 'node:crypto';
import { AppError } from '../errors.js';
import { shortKeyId } from '../tuf/diff.js';
import { isJsonObject, type Json, type JsonObject } from '../tuf/json.js';
import { RSA_PSS_SALT_LENGTH } from '../tuf/key-common.js';
import { samePublicKey } from '../tuf/public-key.js';
import type { Dialect, PublicKeyInfo } from '../tuf/model.js';
import { signatureMethod, verifySignature } from '../tuf/sign.js';
import type { RecordEvent } from './record.js';
import { keyNames, type CheckedRequest, type SigningRequest, type ThresholdSource } from './request.js';
import { sasLine, sasOf } from './sas.js';

export const SIGNATURES_FORMAT = 'tuf-rotate/signatures';
export const COLLECTED_FORMAT = 'tuf-rotate/collected-signatures';

/** One signature for one document: `sig` in the dialect's encoding (Foundries base64, spec hex). */
export interface RequestSignature {
  payload: string;
  keyid: string;
  method?: string;
  sig: string;
}

export interface SignaturesFile {
  format: typeof SIGNATURES_FORMAT;
  formatVersion: 1;
  /** The id of the request these signatures are for. */
  request: string;
  /** Its SAS, for messages when the file is offered for another request. */
  sas: string;
  signatures: RequestSignature[];
}

export interface CollectedSignature extends RequestSignature {
  /** Where it came from: `signatures file sigs-b.json`, `raw signature c.sig`, `tuf-rotate sign (alice.pem)`. */
  from: string;
  at: string;
}

/** The coordinator's state beside REQ.json: every verified signature, and the event log. */
export interface Collected {
  format: typeof COLLECTED_FORMAT;
  formatVersion: 1;
  request: string;
  signatures: CollectedSignature[];
  events: RecordEvent[];
}

export function emptyCollected(req: SigningRequest): Collected {
  return { format: COLLECTED_FORMAT, formatVersion: 1, request: req.id, signatures: [], events: [] };
}

export function parseCollected(text: string, req: SigningRequest): Collected {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new AppError('REQUEST_INVALID', 'the collected signatures file beside the request is not valid JSON', 'Restore it from a backup, or remove it and import the signatures again.');
  }
  const c = v as Partial<Collected>;
  if (!isJsonObject(v) || c.format !== COLLECTED_FORMAT || !Array.isArray(c.signatures) || !Array.isArray(c.events)) {
    throw new AppError('REQUEST_INVALID', `the file beside the request is not a ${COLLECTED_FORMAT} file`, 'Move it away; tuf-rotate writes REQ.sigs.json beside REQ.json.');
  }
  if (c.request !== req.id) {
    throw new AppError('REQUEST_MISMATCH', `the collected signatures beside the request are for request ${sasLine(sasOf(c.request ?? ''))}, not ${sasLine(req.sas)}`, 'Keep each request in its own folder; move the old REQ.sigs.json away.');
  }
  return c as Collected;
}

const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();

/** The dialect's encoding of raw signature bytes. */
export function encodeSig(dialect: Dialect, raw: Uint8Array): string {
  return Buffer.from(raw).toString(dialect === 'foundries' ? 'base64' : 'hex');
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HEX_RE = /^(?:[0-9a-fA-F]{2})+$/;

export function decodeSig(dialect: Dialect, text: string): Uint8Array | undefined {
  if (dialect === 'foundries') return BASE64_RE.test(text) && text !== '' ? new Uint8Array(Buffer.from(text, 'base64')) : undefined;
  return HEX_RE.test(text) ? new Uint8Array(Buffer.from(text, 'hex')) : undefined;
}

/** The signature object as it goes into the root's `signatures[]`. */
export function signatureJson(dialect: Dialect, s: RequestSignature, pub: PublicKeyInfo): JsonObject {
  return dialect === 'foundries' ? { keyid: s.keyid, method: signatureMethod(pub.algorithm), sig: s.sig } : { keyid: s.keyid, sig: s.sig };
}

// ---------------------------------------------------------------------------------------------
// Raw signatures

/** ECDSA r‖s (PKCS#11 CKM_ECDSA, YubiKey) to DER, which TUF and openssl use. */
function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  const int = (b: Uint8Array): Buffer => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    let v = Buffer.from(b.subarray(i));
    if ((v[0] ?? 0) & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return Buffer.concat([Buffer.from([0x02, v.length]), v]);
  };
  const body = Buffer.concat([int(raw.subarray(0, 32)), int(raw.subarray(32))]);
  return new Uint8Array(Buffer.concat([Buffer.from([0x30, body.length]), body]));
}

function expectedLength(pub: PublicKeyInfo): number | undefined {
  if (pub.algorithm === 'ed25519') return 64;
  if (pub.algorithm === 'rsa') return Math.ceil(pub.bits / 8);
  return undefined;
}

function looksLikeEcdsa(b: Uint8Array): boolean {
  return (b.length === 64) || (b[0] === 0x30 && b.length === (b[1] ?? 0) + 2 && b.length <= 72);
}

/**
 * The raw signature bytes in a file made by openssl or pkcs11-tool: binary, base64 or hex, told
 * apart by length and alphabet (§A.6). Undefined when it cannot be a signature of this key type.
 */
export function decodeRawSignature(file: Uint8Array, pub: PublicKeyInfo): Uint8Array | undefined {
  const want = expectedLength(pub);
  const fit = (b: Uint8Array): Uint8Array | undefined => {
    if (want !== undefined) return b.length === want ? b : undefined;
    if (!looksLikeEcdsa(b)) return undefined;
    return b.length === 64 ? ecdsaRawToDer(b) : b;
  };
  const binary = fit(file);
  if (binary !== undefined) return binary;
  const text = Buffer.from(file).toString('latin1').replace(/\s+/g, '');
  if (HEX_RE.test(text)) {
    const hex = fit(new Uint8Array(Buffer.from(text, 'hex')));
    if (hex !== undefined) return hex;
  }
  if (BASE64_RE.test(text) && text !== '') return fit(new Uint8Array(Buffer.from(text, 'base64')));
  return undefined;
}

/** MGF1 with SHA-256 (RFC 8017 B.2.1). */
function mgf1(seed: Uint8Array, length: number): Buffer {
  const out: Buffer[] = [];
  for (let c = 0; out.length * 32 < length; c++) {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(c);
    out.push(sha256(Buffer.concat([Buffer.from(seed), counter])));
  }
  return Buffer.concat(out).subarray(0, length);
}

/**
 * The salt length of an RSA-PSS (SHA-256, MGF1-SHA-256) signature that already verified: RFC 8017
 * §9.1.2 on the encoded message the public key recovers. Undefined if the encoding is not PSS.
 */
export function pssSaltLength(pub: PublicKeyInfo, sig: Uint8Array): number | undefined {
  try {
    const key = createPublicKey({ key: Buffer.from(pub.spki), format: 'der', type: 'spki' });
    let em = publicDecrypt({ key, padding: cryptoConstants.RSA_NO_PADDING }, Buffer.from(sig));
    const emBits = pub.bits - 1;
    const emLen = Math.ceil(emBits / 8);
    if (em.length > emLen) {
      if (em[0] !== 0) return undefined;
      em = em.subarray(em.length - emLen);
    }
    const hLen = 32;
    if (em[emLen - 1] !== 0xbc) return undefined;
    const masked = em.subarray(0, emLen - hLen - 1);
    const h = em.subarray(emLen - hLen - 1, emLen - 1);
    const mask = mgf1(h, masked.length);
    const db = Buffer.alloc(masked.length);
    for (let i = 0; i < db.length; i++) db[i] = (masked[i] ?? 0) ^ (mask[i] ?? 0);
    db[0] = (db[0] ?? 0) & (0xff >> (8 * emLen - emBits));
    const one = db.findIndex((b) => b !== 0);
    if (one < 0 || db[one] !== 0x01) return undefined;
    return db.length - one - 1;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Accepting signatures

/** Key IDs required for a payload (either threshold), in order. */
function requiredFor(checked: CheckedRequest, payload: string): string[] {
  const p = checked.payloads.get(payload);
  if (p === undefined) return [];
  return [...new Set(p.requirement.thresholds.flatMap((t) => t.keyids))];
}

function allRequired(checked: CheckedRequest): string[] {
  return [...new Set([...checked.payloads.keys()].flatMap((p) => requiredFor(checked, p)))];
}

export interface Candidate {
  /** Undefined: any document the key is required for. */
  payload?: string;
  /** Undefined: any required key (a raw signature offered without --keyid). */
  keyid?: string;
  raw: Uint8Array | undefined;
  /** The file's bytes, for a raw signature whose encoding depends on the key tried. */
  file?: Uint8Array;
}

export interface Accepted {
  payload: string;
  keyid: string;
  raw: Uint8Array;
  saltLength?: number;
}

/**
 * Finds the (document, key) a signature belongs to and verifies it; refuses a key that is not
 * required (naming those that are), a signature that verifies under none of the candidates, an
 * RSA-PSS salt other than 32, and a signature for a (document, key) already collected.
 */
export function acceptSignature(checked: CheckedRequest, have: readonly RequestSignature[], c: Candidate, what: string): Accepted {
  const req = checked.request;
  if (c.payload !== undefined && !checked.payloads.has(c.payload)) {
    throw new AppError('BAD_USAGE', `${what} is for document "${c.payload}", which the request does not hold`, `The request's documents: ${[...checked.payloads.keys()].join(', ')}.`);
  }
  const required = allRequired(checked);
  if (c.keyid !== undefined) {
    const keyid = c.keyid;
    const match = required.filter((id) => id === keyid || (keyid.length >= 8 && id.startsWith(keyid)));
    if (match.length !== 1 || (c.payload !== undefined && !requiredFor(checked, c.payload).includes(match[0] ?? ''))) {
      const missing = missingKeys(checked, have);
      throw new AppError(
        'SIGNATURE_KEY_NOT_REQUIRED',
        `${what}: key ${shortKeyId(keyid)} is not one of the keys this request needs${c.payload !== undefined ? ` for ${c.payload}` : ''}`,
        `The keys that sign it: ${keyNames(req, required)}${missing.length > 0 ? `; still missing: ${keyNames(req, missing)}` : ''}.`,
      );
    }
    c = { ...c, keyid: match[0] as string };
  }
  const pairs: { payload: string; keyid: string }[] = [];
  for (const payload of c.payload !== undefined ? [c.payload] : [...checked.payloads.keys()]) {
    for (const keyid of requiredFor(checked, payload)) if (c.keyid === undefined || c.keyid === keyid) pairs.push({ payload, keyid });
  }
  let undecodable = 0;
  for (const { payload, keyid } of pairs) {
    const pub = checked.publicKeys.get(keyid);
    const doc = checked.payloads.get(payload);
    if (pub === undefined || doc === undefined) continue;
    const raw = c.raw ?? (c.file !== undefined ? decodeRawSignature(c.file, pub) : undefined);
    if (raw === undefined) {
      undecodable++;
      continue;
    }
    if (!verifySignature(pub, doc.bytes, raw)) continue;
    let saltLength: number | undefined;
    if (pub.algorithm === 'rsa') {
      saltLength = pssSaltLength(pub, raw);
      if (saltLength !== RSA_PSS_SALT_LENGTH) {
        throw new AppError(
          'SIGNATURE_SALT',
          `${what} is a valid RSA-PSS signature by key ${shortKeyId(keyid)} but with salt length ${saltLength ?? 'unknown'}; only ${RSA_PSS_SALT_LENGTH} is accepted (the Foundries server and every TUF signer use 32)`,
          `Re-sign with the option -pkeyopt rsa_pss_saltlen:32 added to openssl pkeyutl (with -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_mgf1_md:sha256).`,
        );
      }
    }
    const dup = have.find((h) => h.payload === payload && h.keyid === keyid);
    const samePub = have.find((h) => h.payload === payload && h.keyid !== keyid && samePublicKeyIds(checked, h.keyid, keyid));
    if (dup !== undefined || samePub !== undefined) {
      throw new AppError(
        'SIGNATURE_DUPLICATE',
        `${what}: ${payload} already has a signature by key ${keyNames(req, [keyid])}`,
        'Nothing was changed; each key signs each document once. Run tuf-rotate status REQ.json to see who still has to sign.',
      );
    }
    return { payload, keyid, raw, ...(saltLength !== undefined ? { saltLength } : {}) };
  }
  const keyWord = c.keyid !== undefined ? `key ${keyNames(req, [c.keyid])}` : `any of the keys the request needs (${keyNames(req, required)})`;
  const enc = undecodable === pairs.length && pairs.length > 0 ? ' (it is not even the right size for that key type)' : '';
  throw new AppError(
    'SIGNATURE_INVALID',
    `${what} does not verify with ${keyWord} over the bytes of ${c.payload ?? [...checked.payloads.keys()].join(' or ')}${enc}: it was made with another key, or over other bytes`,
    'Check that the holder signed the extracted .bin of this request (compare its sha256 with the request) with the key named; nothing was changed.',
  );
}

function samePublicKeyIds(checked: CheckedRequest, a: string, b: string): boolean {
  const pa = checked.publicKeys.get(a);
  const pb = checked.publicKeys.get(b);
  return pa !== undefined && pb !== undefined && samePublicKey(pa, pb);
}

/**
 * Parses a `tuf-rotate/signatures` file (or a coordinator's `tuf-rotate/collected-signatures`, which
 * has the same `request` and `signatures`); undefined when the bytes are neither (then: a raw signature).
 */
export function tryParseSignaturesFile(bytes: Uint8Array): SignaturesFile | undefined {
  const text = Buffer.from(bytes).toString('utf8').trim();
  if (!text.startsWith('{')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const f = v as Partial<SignaturesFile>;
  if (!isJsonObject(v as Json) || (f.format !== SIGNATURES_FORMAT && (f.format as unknown) !== COLLECTED_FORMAT)) return undefined;
  if (f.formatVersion !== 1 || typeof f.request !== 'string' || !Array.isArray(f.signatures)) {
    throw new AppError('REQUEST_INVALID', `the ${SIGNATURES_FORMAT} file is malformed or of an unknown version`, 'Ask the holder for the file their tuf-rotate wrote, unchanged.');
  }
  for (const s of f.signatures) {
    if (!isJsonObject(s as unknown as Json) || typeof s.payload !== 'string' || typeof s.keyid !== 'string' || typeof s.sig !== 'string') {
      throw new AppError('REQUEST_INVALID', `an entry of the ${SIGNATURES_FORMAT} file lacks payload, keyid or sig`, 'Ask the holder for the file their tuf-rotate wrote, unchanged.');
    }
  }
  return { ...(f as SignaturesFile), signatures: f.signatures.map(({ payload, keyid, sig, method }) => ({ payload, keyid, sig, ...(method !== undefined ? { method } : {}) })) };
}

/** Refuses a signatures file made for another request, naming both SASes. */
export function assertSameRequest(file: SignaturesFile, req: SigningRequest, what: string): void {
  if (file.request === req.id) return;
  throw new AppError(
    'REQUEST_MISMATCH',
    `${what} holds signatures for request "${sasLine(sasOf(file.request))}", not for the open request "${sasLine(req.sas)}"`,
    'The holder signed another (perhaps superseded) request. Send them this request and compare the short authentication string before they sign.',
  );
}

// ---------------------------------------------------------------------------------------------
// Who still signs

export interface ThresholdTally {
  source: ThresholdSource;
  version: number;
  threshold: number;
  keyids: string[];
  signed: string[];
  met: boolean;
}

export interface PayloadTally {
  payload: string;
  version: number;
  thresholds: ThresholdTally[];
  met: boolean;
}

export interface Tally {
  payloads: PayloadTally[];
  complete: boolean;
}

/** Per document and threshold: which required keys have a collected (verified) signature. */
export function tally(checked: CheckedRequest, have: readonly RequestSignature[]): Tally {
  const payloads: PayloadTally[] = [];
  for (const [name, doc] of checked.payloads) {
    const thresholds = doc.requirement.thresholds.map((t) => {
      const signed: string[] = [];
      const pubs: PublicKeyInfo[] = [];
      for (const id of t.keyids) {
        if (!have.some((h) => h.payload === name && h.keyid === id)) continue;
        const pub = checked.publicKeys.get(id);
        if (pub !== undefined && pubs.some((p) => samePublicKey(p, pub))) continue; // one key under two IDs counts once
        if (pub !== undefined) pubs.push(pub);
        signed.push(id);
      }
      return { source: t.source, version: t.version, threshold: t.threshold, keyids: t.keyids, signed, met: signed.length >= t.threshold };
    });
    payloads.push({ payload: name, version: doc.root.version, thresholds, met: thresholds.every((t) => t.met) });
  }
  return { payloads, complete: payloads.every((p) => p.met) };
}

/** Required keys with no signature yet, over every threshold still unmet. */
export function missingKeys(checked: CheckedRequest, have: readonly RequestSignature[]): string[] {
  const out = new Set<string>();
  for (const p of tally(checked, have).payloads) {
    for (const t of p.thresholds) if (!t.met) for (const id of t.keyids) if (!t.signed.includes(id)) out.add(id);
  }
  return [...out];
}

/**
 * The valid signatures a partly signed next root already carries (a `--next` file, a Factory's
 * staged root), each verified as an import would; empty or unverifiable entries are skipped, never
 * collected (placeholders are never published).
 */
export function signaturesFromDocument(checked: CheckedRequest, payload: string, sigs: readonly Json[]): { accepted: Accepted[]; skipped: number } {
  const accepted: Accepted[] = [];
  let skipped = 0;
  for (const s of sigs) {
    if (!isJsonObject(s) || typeof s['keyid'] !== 'string' || typeof s['sig'] !== 'string') {
      skipped++;
      continue;
    }
    const raw = decodeSig(checked.request.dialect, s['sig']);
    try {
      const have = accepted.map((a) => ({ payload: a.payload, keyid: a.keyid, sig: '' }));
      accepted.push(acceptSignature(checked, have, { payload, keyid: s['keyid'], raw: raw ?? new Uint8Array() }, `the signature by ${shortKeyId(s['keyid'])}`));
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      skipped++;
    }
  }
  return { accepted, skipped };
}
