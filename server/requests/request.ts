/**
 * `tuf-rotate/signing-request` v1 (ceremonies-research.md §A.4): everything a key holder needs to
 * check and sign the next root(s) on their own machine, with no repository, server or git.
 *
 * - `payloads[]`: each document to sign, as its canonical bytes (base64) and its `signed` object;
 * - `trusted[]`: the trusted root(s), as the exact bytes served;
 * - `requirements[]`: per payload, the old root's root threshold and key IDs and the new one's;
 * - `keys{}`: every key named by a requirement, with an owner label (never written into `signed`);
 * - `summary[]`: plain-language lines, generated from the roots (and checked by the holder's tool);
 * - `manifest`: one text line per bound item; `id` = SHA-256(manifest); `sas` = its first 64 bits.
 *
 * `checkRequest` re-derives every byte, hash, requirement, key and summary line, so a holder signs
 * exactly what they were shown. Pure apart from the clock passed in: no fs, no network.
 */
import { createHash } from 'node:crypto';
import { AppError } from '../errors.js';
import { canonicalBytes, canonicalSpec } from '../tuf/canonical-json.js';
import { diffRoots, shortKeyId } from '../tuf/diff.js';
import { isJsonObject, type Json, type JsonObject } from '../tuf/json.js';
import { publicKeyOf } from '../tuf/public-key.js';
import { parseRoot } from '../tuf/metadata.js';
import type { Dialect, PublicKeyInfo, Root } from '../tuf/model.js';
import { verifySelfSigned } from '../tuf/verify.js';
import { sasOf, type Sas } from './sas.js';

export const REQUEST_FORMAT = 'tuf-rotate/signing-request';
export const REQUEST_FORMAT_VERSION = 1;
/** How long a request may be signed, by default (bounds an offline attack on the SAS, §A.5). */
export const DEFAULT_REQUEST_DAYS = 7;
export const MAX_REQUEST_DAYS = 90;
/** A request file is at most this large (several roots with RSA-4096 keys are well under 1 MiB). */
export const REQUEST_FILE_LIMIT = 4 * 1024 * 1024;

export type Canonicalization = 'olpc' | 'ota-tuf-jsoncpp';
export type ThresholdSource = 'trusted' | 'new';

export interface RequestTarget {
  kind: 'repo' | 'factory' | 'practice' | 'offline';
  description: string;
}

export interface RequestPayload {
  /** `root` (spec), `root.ci` / `root.prod` (Foundries). */
  name: string;
  role: 'root';
  version: number;
  canonicalization: Canonicalization;
  sha256: string;
  /** The exact bytes to sign, base64. */
  canonical: string;
  signed: JsonObject;
}

export interface RequestTrusted {
  name: string;
  version: number;
  sha256: string;
  /** The trusted root exactly as served, base64. */
  bytes: string;
}

export interface RequestThreshold {
  source: ThresholdSource;
  version: number;
  threshold: number;
  keyids: string[];
}

export interface RequestRequirement {
  payload: string;
  /** The trusted root of this payload's chain (its name in `trusted[]`). */
  trusted: string;
  thresholds: RequestThreshold[];
}

export interface RequestKey {
  /** `ed25519`, `rsa-4096`, `ecdsa-p256`. */
  algorithm: string;
  /** SHA-256 of the SubjectPublicKeyInfo (equals the key ID in the Foundries dialect). */
  spkiSha256: string;
  /** The key object exactly as in the metadata. */
  public: JsonObject;
  in: ThresholdSource[];
  owner: string | null;
}

export interface SigningRequest {
  format: typeof REQUEST_FORMAT;
  formatVersion: 1;
  id: string;
  sas: Sas;
  createdAt: string;
  expiresAt: string;
  dialect: Dialect;
  target: RequestTarget;
  payloads: RequestPayload[];
  trusted: RequestTrusted[];
  requirements: RequestRequirement[];
  keys: Record<string, RequestKey>;
  summary: string[];
  /** Free text from the coordinator (why, ticket number); bound by the manifest, not checked. */
  note: string | null;
  manifest: string;
  /** Commands for holders who sign with openssl or pkcs11-tool; generated, not bound (no effect on security). */
  howToSign?: string[];
}

export interface BuildRequestInput {
  dialect: Dialect;
  target: RequestTarget;
  /** The trusted root(s), exactly as served. */
  trusted: { name: string; bytes: Uint8Array }[];
  /** The documents to sign; `trusted` names the entry of `trusted` each one succeeds. */
  payloads: { name: string; trusted: string; signed: JsonObject }[];
  /** Key ID → owner label (operator-entered). Labels already in the key objects are used otherwise. */
  owners?: Record<string, string>;
  note?: string;
  now: Date;
  /** Default DEFAULT_REQUEST_DAYS. */
  validDays?: number;
}

/** A request whose every byte, hash and derived field was recomputed and found equal. */
export interface CheckedRequest {
  request: SigningRequest;
  trusted: Map<string, Root>;
  payloads: Map<string, { bytes: Uint8Array; root: Root; trusted: Root; requirement: RequestRequirement }>;
  /** Public keys of every key in `keys`. */
  publicKeys: Map<string, PublicKeyInfo>;
}

const sha256Hex = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

function tampered(message: string, hint = 'Do not sign it. Ask the coordinator for the request again over another channel, and compare the short authentication string.'): AppError {
  return new AppError('REQUEST_TAMPERED', message, hint);
}

function invalid(message: string): AppError {
  return new AppError('REQUEST_INVALID', message, 'Open the file the coordinator sent (a tuf-rotate/signing-request, usually REQ.json), unchanged.');
}

/** `2026-12-08T11:00:47Z`: whole seconds, UTC. */
function isoSeconds(d: Date): string {
  return new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** `ed25519`, `rsa-4096`, `ecdsa-p256`. */
export function algorithmLabel(pub: PublicKeyInfo): string {
  if (pub.algorithm === 'rsa') return `rsa-${pub.bits}`;
  if (pub.algorithm === 'ecdsa') return 'ecdsa-p256';
  return 'ed25519';
}

function rootKeyPublic(root: Root, keyid: string): PublicKeyInfo {
  const key = root.keys[keyid];
  if (key === undefined) throw invalid(`root version ${root.version} names key ${shortKeyId(keyid)} in its root role but does not list it`);
  return publicKeyOf(key);
}

/** An owner label a repository already keeps in its key objects (TUF-on-CI, RSTUF), or Foundries' `x-key-owners`. */
function labelInMetadata(root: Root, keyid: string): string | undefined {
  const json = root.keys[keyid]?.json;
  for (const field of ['x-tuf-on-ci-keyowner', 'x-rstuf-key-name']) {
    const v = json?.[field];
    if (typeof v === 'string' && v !== '') return v;
  }
  const polis = root.keyOwners?.[keyid]?.polisId;
  return polis !== undefined && polis !== '' ? polis : undefined;
}

function rootRole(root: Root): { keyids: string[]; threshold: number } {
  const role = root.roles['root'];
  if (role === undefined) throw invalid(`root version ${root.version} has no root role`);
  return role;
}

/** The payload's requirements: a threshold of the trusted root's root keys and one of its own (TUF 5.3.4). */
export function deriveRequirement(payload: string, trustedName: string, trusted: Root, next: Root): RequestRequirement {
  const oldRole = rootRole(trusted);
  const newRole = rootRole(next);
  return {
    payload,
    trusted: trustedName,
    thresholds: [
      { source: 'trusted', version: trusted.version, threshold: oldRole.threshold, keyids: [...oldRole.keyids] },
      { source: 'new', version: next.version, threshold: newRole.threshold, keyids: [...newRole.keyids] },
    ],
  };
}

/** Every key a requirement names, from the root that lists it (the new root's object wins for keys in both). */
function deriveKeys(
  pairs: { trusted: Root; next: Root; requirement: RequestRequirement }[],
  owners: Record<string, string | null>,
): Record<string, RequestKey> {
  const out: Record<string, RequestKey> = {};
  for (const { trusted, next, requirement } of pairs) {
    for (const t of requirement.thresholds) {
      const root = t.source === 'trusted' ? trusted : next;
      for (const id of t.keyids) {
        const pub = rootKeyPublic(root, id);
        const existing = out[id];
        if (existing !== undefined) {
          if (!existing.in.includes(t.source)) existing.in.push(t.source);
          existing.in.sort();
          continue;
        }
        const key = root.keys[id];
        if (key === undefined) continue;
        out[id] = {
          algorithm: algorithmLabel(pub),
          spkiSha256: sha256Hex(pub.spki),
          public: key.json,
          in: [t.source],
          owner: owners[id] ?? labelInMetadata(next, id) ?? labelInMetadata(trusted, id) ?? null,
        };
      }
    }
  }
  const sorted: Record<string, RequestKey> = {};
  for (const id of Object.keys(out).sort()) sorted[id] = out[id] as RequestKey;
  return sorted;
}

function keyText(id: string, keys: Record<string, RequestKey>): string {
  const k = keys[id];
  if (k === undefined) return shortKeyId(id);
  return `${shortKeyId(id)} (${k.algorithm}${k.owner !== null ? `, ${k.owner}` : ''})`;
}

/**
 * The plain-language lines, generated from the roots alone: an openssl-only holder has only this
 * text, so the holder's tool regenerates it and refuses a request whose summary says otherwise.
 */
export function deriveSummary(target: RequestTarget, pairs: { name: string; trusted: Root; next: Root }[], keys: Record<string, RequestKey>): string[] {
  const lines: string[] = [];
  for (const { name, trusted, next } of pairs) {
    const d = diffRoots(trusted, next, { now: new Date(0) });
    lines.push(`${target.description}, ${name}: root v${d.version.from} -> v${d.version.to}`);
    const rootChange = d.roles.find((r) => r.name === 'root');
    const removed = rootChange?.keyidsRemoved ?? [];
    const added = rootChange?.keyidsAdded ?? [];
    lines.push(`root keys removed: ${removed.length === 0 ? 'none' : removed.map((id) => keyText(id, keys)).join(', ')}`);
    lines.push(`root keys added: ${added.length === 0 ? 'none' : added.map((id) => keyText(id, keys)).join(', ')}`);
    lines.push(`root threshold: ${rootRole(trusted).threshold} -> ${rootRole(next).threshold} (of ${rootRole(next).keyids.length} keys)`);
    for (const r of d.roles) {
      if (r.name === 'root') continue;
      const parts: string[] = [];
      if (r.threshold.from !== r.threshold.to) parts.push(`threshold ${r.threshold.from ?? '-'} -> ${r.threshold.to ?? '-'}`);
      if (r.keyidsAdded.length > 0) parts.push(`keys added ${r.keyidsAdded.map(shortKeyId).join(', ')}`);
      if (r.keyidsRemoved.length > 0) parts.push(`keys removed ${r.keyidsRemoved.map(shortKeyId).join(', ')}`);
      if (parts.length > 0) lines.push(`${r.name} role: ${parts.join('; ')}`);
    }
    lines.push(`expires: ${d.expires.from} -> ${d.expires.to}`);
    const other = d.otherFields.filter((f) => f.path !== 'version' && f.path !== 'expires');
    if (other.length > 0) lines.push(`other fields changed: ${other.map((f) => f.path).join(', ')}`);
  }
  return lines;
}

/** The manifest: one line per bound item, in a fixed order. Plain text, so `sha256sum` can check the id. */
export function manifestOf(r: Omit<SigningRequest, 'id' | 'sas' | 'manifest' | 'howToSign'>): string {
  const lines = [
    'tuf-rotate/signing-request v1',
    `dialect ${r.dialect}`,
    `created-at ${r.createdAt}`,
    `expires-at ${r.expiresAt}`,
    `target ${r.target.kind} ${JSON.stringify(r.target.description)}`,
    ...r.trusted.map((t) => `trusted ${t.name} ${t.version} ${t.sha256}`),
    ...r.payloads.map((p) => `payload ${p.name} ${p.role} ${p.version} ${p.canonicalization} ${p.sha256}`),
    ...r.requirements.flatMap((q) => q.thresholds.map((t) => `threshold ${q.payload} ${q.trusted} ${t.source} v${t.version} ${t.threshold} ${t.keyids.join(',')}`)),
    ...Object.entries(r.keys).map(
      ([id, k]) => `key ${id} ${k.algorithm} ${k.spkiSha256} ${k.in.join('+')} ${sha256Hex(canonicalSpec(k.public))} owner ${JSON.stringify(k.owner)}`,
    ),
    `summary ${sha256Hex(r.summary.map((l) => l + '\n').join(''))}`,
    `note ${JSON.stringify(r.note)}`,
  ];
  return lines.map((l) => l + '\n').join('');
}

function canonicalizationOf(dialect: Dialect): Canonicalization {
  return dialect === 'foundries' ? 'ota-tuf-jsoncpp' : 'olpc';
}

/** Builds a request from the trusted root(s) as served and the unsigned next root(s). */
export function buildRequest(input: BuildRequestInput): SigningRequest {
  const days = input.validDays ?? DEFAULT_REQUEST_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > MAX_REQUEST_DAYS) {
    throw new AppError('BAD_USAGE', `A request is valid for 1 to ${MAX_REQUEST_DAYS} days, not ${days}.`, 'Choose a shorter validity; a week is usual.');
  }
  const trusted = input.trusted.map((t) => ({ ...t, root: parseRoot(t.bytes, `the trusted ${t.name}`) }));
  for (const t of trusted) {
    if (t.root.dialect !== input.dialect) throw invalid(`the trusted ${t.name} is a ${t.root.dialect} root, not ${input.dialect}`);
  }
  const pairs = input.payloads.map((p) => {
    const t = trusted.find((x) => x.name === p.trusted);
    if (t === undefined) throw new AppError('INTERNAL', `payload ${p.name} names an unknown trusted root ${p.trusted}`, 'Report this as a bug.');
    const next = parseRoot({ signatures: [], signed: p.signed }, `the new ${p.name}`);
    return { name: p.name, trustedName: t.name, trusted: t.root, next, signed: p.signed, requirement: deriveRequirement(p.name, t.name, t.root, next) };
  });
  const owners: Record<string, string | null> = { ...(input.owners ?? {}) };
  const keys = deriveKeys(pairs, owners);
  const body: Omit<SigningRequest, 'id' | 'sas' | 'manifest' | 'howToSign'> = {
    format: REQUEST_FORMAT,
    formatVersion: REQUEST_FORMAT_VERSION,
    createdAt: isoSeconds(input.now),
    expiresAt: isoSeconds(new Date(input.now.getTime() + days * 86_400_000)),
    dialect: input.dialect,
    target: input.target,
    payloads: pairs.map((p) => {
      const bytes = canonicalBytes(input.dialect, p.signed);
      return {
        name: p.name,
        role: 'root',
        version: p.next.version,
        canonicalization: canonicalizationOf(input.dialect),
        sha256: sha256Hex(bytes),
        canonical: b64(bytes),
        signed: p.signed,
      };
    }),
    trusted: trusted.map((t) => ({ name: t.name, version: t.root.version, sha256: sha256Hex(t.bytes), bytes: b64(t.bytes) })),
    requirements: pairs.map((p) => p.requirement),
    keys,
    summary: deriveSummary(input.target, pairs, keys),
    note: input.note ?? null,
  };
  const manifest = manifestOf(body);
  const id = sha256Hex(manifest);
  const req: SigningRequest = { ...body, id, sas: sasOf(id), manifest };
  req.howToSign = howToSign(req);
  return req;
}

/** The bytes file a holder signs with openssl: `root.v3.bin`. */
export function payloadFileName(p: { name: string; version: number }): string {
  return `${p.name}.v${p.version}.bin`;
}

/** Commands for a holder without tuf-rotate, per key algorithm in the request (§A.6). */
export function howToSign(req: Pick<SigningRequest, 'payloads' | 'keys' | 'id'>): string[] {
  const algs = new Set(Object.values(req.keys).map((k) => k.algorithm.split('-')[0]));
  const out: string[] = [];
  req.payloads.forEach((p, i) => {
    const bin = payloadFileName(p);
    out.push(`# ${p.name} v${p.version}: extract the bytes to sign and check their hash (must be ${p.sha256})`);
    out.push(`jq -r '.payloads[${i}].canonical' REQ.json | base64 -d > ${bin} && sha256sum ${bin}`);
    if (algs.has('ed25519')) out.push(`openssl pkeyutl -sign -rawin -inkey KEY.pem -in ${bin} -out ${p.name}.sig`);
    if (algs.has('rsa')) {
      out.push(
        `openssl pkeyutl -sign -rawin -digest sha256 -inkey KEY.pem -in ${bin} -out ${p.name}.sig ` +
          '-pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -pkeyopt rsa_mgf1_md:sha256',
      );
    }
    if (algs.has('ecdsa')) out.push(`openssl pkeyutl -sign -rawin -digest sha256 -inkey KEY.pem -in ${bin} -out ${p.name}.sig`);
  });
  out.push(`# then send ${req.payloads.map((p) => `${p.name}.sig`).join(', ')} with your key ID; the coordinator runs: tuf-rotate sign REQ.json --import FILE.sig --keyid KEYID`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading and checking

const str = (v: unknown): v is string => typeof v === 'string';
const int = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const strArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(str);

function need(ok: boolean, what: string): void {
  if (!ok) throw invalid(`${what} is missing or malformed`);
}

/** Parses a request file's JSON and checks its shape (not yet its content: see checkRequest). */
export function parseRequest(text: string | Uint8Array, source = 'the request'): SigningRequest {
  let v: unknown;
  try {
    v = JSON.parse(typeof text === 'string' ? text : Buffer.from(text).toString('utf8'));
  } catch {
    throw invalid(`${source} is not valid JSON`);
  }
  if (!isJsonObject(v as Json)) throw invalid(`${source} is not a JSON object`);
  const r = v as Record<string, unknown>;
  if (r['format'] !== REQUEST_FORMAT) throw invalid(`${source} is not a ${REQUEST_FORMAT} file`);
  if (r['formatVersion'] !== REQUEST_FORMAT_VERSION) throw invalid(`${source} is ${REQUEST_FORMAT} version ${String(r['formatVersion'])}; this tuf-rotate reads version 1`);
  need(str(r['id']) && /^[0-9a-f]{64}$/.test(r['id']), 'id');
  need(str(r['createdAt']) && str(r['expiresAt']), 'createdAt/expiresAt');
  need(r['dialect'] === 'spec' || r['dialect'] === 'foundries', 'dialect');
  const target = r['target'] as Record<string, unknown> | undefined;
  need(isJsonObject(target as Json) && str(target?.['kind']) && str(target?.['description']), 'target');
  need(Array.isArray(r['payloads']) && (r['payloads'] as unknown[]).length > 0, 'payloads');
  for (const p of r['payloads'] as Record<string, unknown>[]) {
    need(isJsonObject(p as Json) && str(p['name']) && p['role'] === 'root' && int(p['version']) && str(p['canonicalization']), 'payloads[].name/role/version');
    need(str(p['sha256']) && str(p['canonical']) && isJsonObject(p['signed'] as Json), 'payloads[].sha256/canonical/signed');
  }
  need(Array.isArray(r['trusted']) && (r['trusted'] as unknown[]).length > 0, 'trusted');
  for (const t of r['trusted'] as Record<string, unknown>[]) need(isJsonObject(t as Json) && str(t['name']) && int(t['version']) && str(t['sha256']) && str(t['bytes']), 'trusted[]');
  need(Array.isArray(r['requirements']), 'requirements');
  for (const q of r['requirements'] as Record<string, unknown>[]) {
    need(isJsonObject(q as Json) && str(q['payload']) && str(q['trusted']) && Array.isArray(q['thresholds']), 'requirements[]');
    for (const t of q['thresholds'] as Record<string, unknown>[]) need(isJsonObject(t as Json) && str(t['source']) && int(t['version']) && int(t['threshold']) && strArray(t['keyids']), 'requirements[].thresholds[]');
  }
  need(isJsonObject(r['keys'] as Json), 'keys');
  for (const k of Object.values(r['keys'] as Record<string, Record<string, unknown>>)) {
    need(isJsonObject(k as Json) && str(k['algorithm']) && str(k['spkiSha256']) && isJsonObject(k['public'] as Json) && strArray(k['in']) && (k['owner'] === null || str(k['owner'])), 'keys{}');
  }
  need(strArray(r['summary']), 'summary');
  need(r['note'] === null || str(r['note']), 'note');
  need(str(r['manifest']), 'manifest');
  const sas = r['sas'] as Record<string, unknown> | undefined;
  need(isJsonObject(sas as Json) && strArray(sas?.['words']) && str(sas?.['hex']), 'sas');
  return v as SigningRequest;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export interface CheckOptions {
  now: Date;
  /** The holder's own copy of the trusted root(s), by payload chain name (or any name when one). */
  pinned?: Root[];
  /** Allow an expired request (publishing what was collected in time; status). */
  allowExpired?: boolean;
}

/**
 * Re-derives every byte and hash of a request and refuses one that does not add up:
 * canonical bytes ≠ canonicalize(signed), a hash that does not match, a trusted root that does not
 * verify against itself or does not precede its payload, requirements or keys that the roots do
 * not give, a summary the roots do not say, a manifest or id or SAS that does not follow, an
 * expired request.
 */
export function checkRequest(req: SigningRequest, opts: CheckOptions): CheckedRequest {
  const trusted = new Map<string, Root>();
  for (const t of req.trusted) {
    const bytes = Buffer.from(t.bytes, 'base64');
    if (sha256Hex(bytes) !== t.sha256) throw tampered(`the trusted ${t.name} bytes do not hash to the SHA-256 the request states`);
    let root: Root;
    try {
      root = parseRoot(bytes, `the trusted ${t.name}`);
    } catch (e) {
      throw tampered(`the trusted ${t.name} in the request is not a valid root (${e instanceof AppError ? e.message : 'unreadable'})`);
    }
    if (root.version !== t.version) throw tampered(`the trusted ${t.name} is version ${root.version}, not ${t.version} as stated`);
    if (root.dialect !== req.dialect) throw tampered(`the trusted ${t.name} is a ${root.dialect} root in a ${req.dialect} request`);
    const self = verifySelfSigned(root, { now: opts.now });
    const selfFail = self.results.filter((x) => x.status === 'fail' && x.rule !== 'expiry');
    if (selfFail.length > 0) throw tampered(`the trusted ${t.name} v${root.version} does not verify against itself (${selfFail.map((x) => x.rule).join(', ')})`);
    trusted.set(t.name, root);
  }
  if (opts.pinned !== undefined && opts.pinned.length > 0) {
    for (const [name, root] of trusted) {
      const pin = opts.pinned.find((p) => p.version === root.version) ?? (opts.pinned.length === 1 ? opts.pinned[0] : undefined);
      if (pin === undefined || pin.version !== root.version || !same(pin.signedJson, root.signedJson)) {
        throw tampered(
          `the trusted ${name} in the request (v${root.version}) is not the root you trust (v${pin?.version ?? '?'})`,
          'Do not sign it: the diff shown would be computed against a root that is not yours. Ask the coordinator which root the request starts from.',
        );
      }
    }
  }

  const payloads: CheckedRequest['payloads'] = new Map();
  const pairs: { name: string; trusted: Root; next: Root; requirement: RequestRequirement }[] = [];
  if (req.requirements.length !== req.payloads.length) throw tampered('the request does not state one requirement per document');
  for (const p of req.payloads) {
    const bytes = new Uint8Array(Buffer.from(p.canonical, 'base64'));
    if (p.canonicalization !== canonicalizationOf(req.dialect)) throw tampered(`${p.name} claims canonicalization ${p.canonicalization}, not the ${req.dialect} dialect's`);
    let derived: Uint8Array;
    try {
      derived = canonicalBytes(req.dialect, p.signed);
    } catch (e) {
      throw tampered(`${p.name}'s signed object cannot be canonicalized (${e instanceof AppError ? e.message : 'error'})`);
    }
    if (!Buffer.from(derived).equals(Buffer.from(bytes))) {
      throw tampered(`the bytes to sign for ${p.name} are not the canonical form of the ${p.name} shown: what you would sign differs from what you see`);
    }
    if (sha256Hex(bytes) !== p.sha256) throw tampered(`the bytes to sign for ${p.name} do not hash to the SHA-256 the request states`);
    let next: Root;
    try {
      next = parseRoot({ signatures: [], signed: p.signed }, `the new ${p.name}`);
    } catch (e) {
      throw tampered(`the new ${p.name} is not a valid root (${e instanceof AppError ? e.message : 'unreadable'})`);
    }
    if (next.version !== p.version) throw tampered(`${p.name} is version ${next.version}, not ${p.version} as stated`);
    const requirement = req.requirements.find((q) => q.payload === p.name);
    if (requirement === undefined) throw tampered(`the request states no requirement for ${p.name}`);
    const t = trusted.get(requirement.trusted);
    if (t === undefined) throw tampered(`${p.name} names a trusted root ${requirement.trusted} that the request does not carry`);
    if (next.version !== t.version + 1) throw tampered(`${p.name} is version ${next.version}, but the trusted ${requirement.trusted} is version ${t.version}: the next root must be version ${t.version + 1}`);
    const derivedReq = deriveRequirement(p.name, requirement.trusted, t, next);
    if (!same(derivedReq, requirement)) throw tampered(`the thresholds stated for ${p.name} are not those of the trusted and new roots`);
    payloads.set(p.name, { bytes, root: next, trusted: t, requirement });
    pairs.push({ name: p.name, trusted: t, next, requirement });
  }

  const owners: Record<string, string | null> = {};
  for (const [id, k] of Object.entries(req.keys)) owners[id] = k.owner;
  const keys = deriveKeys(pairs, owners);
  if (!same(keys, req.keys)) throw tampered('the key list of the request is not the keys the roots name');
  const publicKeys = new Map<string, PublicKeyInfo>();
  for (const { trusted: t, next, requirement } of pairs) {
    for (const th of requirement.thresholds) {
      for (const id of th.keyids) publicKeys.set(id, rootKeyPublic(th.source === 'trusted' ? t : next, id));
    }
  }

  const summary = deriveSummary(req.target, pairs, keys);
  if (!same(summary, req.summary)) {
    throw tampered(`the request's summary does not describe the change it asks you to sign (it says "${req.summary.find((l, i) => l !== summary[i]) ?? req.summary.join(' / ')}")`);
  }
  const manifest = manifestOf(req);
  if (manifest !== req.manifest) throw tampered('the manifest does not bind what the request holds');
  const id = sha256Hex(manifest);
  if (id !== req.id) throw tampered('the request id is not the SHA-256 of its manifest');
  const sas = sasOf(id);
  if (!same(sas, req.sas)) throw tampered('the short authentication string shown in the file is not the one its id gives');

  const expires = Date.parse(req.expiresAt);
  if (Number.isNaN(expires)) throw invalid('expiresAt is not a date');
  if (!opts.allowExpired && expires <= opts.now.getTime()) {
    throw new AppError(
      'REQUEST_EXPIRED',
      `the request ${sas.words.slice(0, 2).join(' ')}… expired at ${req.expiresAt}`,
      'Ask the coordinator for a new request; an expired one is never signed, so a superseded change cannot come back.',
    );
  }
  return { request: req, trusted, payloads, publicKeys };
}

/** Writes the request as the file holders receive: pretty JSON, one trailing newline. */
export function serializeRequest(req: SigningRequest): string {
  return JSON.stringify(req, null, 1) + '\n';
}

/** Key IDs a holder still needs, for messages: `bob (3f2a9c01), carol (77aa0b12)`. */
export function keyNames(req: SigningRequest, ids: readonly string[]): string {
  return ids.map((id) => (req.keys[id]?.owner ? `${req.keys[id]?.owner ?? ''} (${shortKeyId(id)})` : shortKeyId(id))).join(', ');
}
