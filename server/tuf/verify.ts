/**
 * The verifier: does a new root pass every rule its dialect's clients apply when they update from a
 * trusted root (docs/tuf-dialects.md), plus the one rule none of them enforces (one public key under
 * two key IDs counts once)? Every rule yields a RuleResult, in checklist order, so the UI can show
 * the whole list and the CLI can print it.
 *
 * Pure: no fs, no network. Decoded public keys are cached across calls (a chain of 1,000 roots
 * reuses the same handful of keys), `signed` is canonicalised once per step, and each signature is
 * checked at most once per step even when its key sits in both the old and the new root role.
 */
import { isAppError } from '../errors.js';
import { canonicalBytes, canonicalFioctl, childPath, nonAsciiStrings } from './canonical-json.js';
import type { JsonObject } from './json.js';
import { isJsonObject } from './json.js';
import { keyIdSpec, publicKeyOf } from './keys.js';
import { REQUIRED_ROLES } from './metadata.js';
import type { ChainReport, PublicKeyInfo, Root, RootKey, RootRole, RuleId, RuleResult, VerifyReport } from './model.js';
import { decodeSignature, verifySignature } from './sign.js';

export interface VerifyOptions {
  now: Date;
  /** Check that the new root has not expired (default true; a chain checks only its final root). */
  checkExpiry?: boolean;
}

/** Foundries: the server refuses a root file larger than this (docs/tuf-dialects.md, Fields). */
export const FOUNDRIES_MAX_ROOT_BYTES = 64 * 1024;
/** Foundries: ota-tuf's IllegalThreshold bound. */
export const FOUNDRIES_MAX_THRESHOLD = 1000;
/** The only signature methods a Foundries device accepts (compared after lowercasing, like notary). */
const FOUNDRIES_METHODS = new Set(['ed25519', 'rsassa-pss-sha256']);
const FOUNDRIES_KEYTYPES = new Set(['RSA', 'ED25519']);
const DAY_MS = 24 * 60 * 60 * 1000;

/** The first 8 hex characters of a key ID: enough to recognise it, never more of anything. */
function short(id: string): string {
  return id.slice(0, 8);
}

function list(ids: Iterable<string>): string {
  const s = [...ids].map(short);
  return s.length === 0 ? 'none' : s.join(', ');
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function has<T>(rec: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(rec, key) ? rec[key] : undefined;
}

// ---------------------------------------------------------------------------------------------
// Decoded public keys, cached across steps and calls

type Decoded =
  | { ok: true; pub: PublicKeyInfo; /** identity of the public key: its SPKI DER, base64 */ id: string }
  | { ok: false; reason: string };

const KEY_CACHE_LIMIT = 4096;
const keyCache = new Map<string, Decoded>();

function decodeKey(key: RootKey): Decoded {
  const cacheKey = `${key.keytype}\u0000${key.scheme ?? ''}\u0000${key.public}`;
  let d = keyCache.get(cacheKey);
  if (d === undefined) {
    try {
      const pub = publicKeyOf(key);
      d = { ok: true, pub, id: Buffer.from(pub.spki).toString('base64') };
    } catch (e) {
      // keys.ts messages name the key type and the problem, never key bytes.
      d = { ok: false, reason: isAppError(e) ? e.message : 'it cannot be decoded' };
    }
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
    keyCache.set(cacheKey, d);
  }
  return d;
}

/** Identity of a key for counting distinct keys: its public key, or (undecodable) its text. */
function identityOf(key: RootKey): string {
  const d = decodeKey(key);
  return d.ok ? d.id : `raw\u0000${key.keytype}\u0000${key.public}`;
}

// ---------------------------------------------------------------------------------------------
// Signature counting over one byte form of one root

/** The signatures of one root over one byte form; each (signature, key) pair is verified once. */
class SignatureSet {
  readonly #root: Root;
  readonly #bytes: Uint8Array;
  readonly #memo = new Map<string, boolean>();
  readonly #raw = new Map<number, Uint8Array | undefined>();

  constructor(root: Root, bytes: Uint8Array) {
    this.#root = root;
    this.#bytes = bytes;
  }

  /**
   * Valid signatures by keys of `role` (looked up in `keys`), counting each public key once.
   * Empty slots, unknown key IDs, keys outside the role and undecodable keys are skipped, as the
   * device and TUF clients skip them.
   */
  count(role: RootRole, keys: Record<string, RootKey>): { distinct: number; keyIds: string[] } {
    const inRole = new Set(role.keyids);
    const seen = new Set<string>();
    const keyIds: string[] = [];
    this.#root.signatures.forEach((s, i) => {
      if (s.sig === '' || !inRole.has(s.keyid)) return;
      const key = has(keys, s.keyid);
      if (key === undefined) return;
      const d = decodeKey(key);
      if (!d.ok || seen.has(d.id)) return;
      if (this.#valid(i, d.pub, d.id)) {
        seen.add(d.id);
        keyIds.push(s.keyid);
      }
    });
    return { distinct: seen.size, keyIds };
  }

  #valid(index: number, pub: PublicKeyInfo, keyIdentity: string): boolean {
    const memoKey = `${index}\u0000${keyIdentity}`;
    let ok = this.#memo.get(memoKey);
    if (ok === undefined) {
      let raw = this.#raw.get(index);
      if (!this.#raw.has(index)) {
        const sig = this.#root.signatures[index];
        raw = sig === undefined ? undefined : decodeSignature(this.#root.dialect, sig);
        this.#raw.set(index, raw);
      }
      ok = raw !== undefined && verifySignature(pub, this.#bytes, raw);
      this.#memo.set(memoKey, ok);
    }
    return ok;
  }
}

// ---------------------------------------------------------------------------------------------
// Rules

type Status = RuleResult['status'];

function result(rule: RuleId, status: Status, message: string, version: number): RuleResult {
  return { rule, status, message, version };
}

function typeRule(trusted: Root | undefined, next: Root): RuleResult {
  const v = next.version;
  const expected = next.dialect === 'foundries' ? 'Root' : 'root';
  const name = next.dialect === 'foundries' ? 'a Foundries root' : 'a TUF specification root';
  if (next.type !== expected) {
    return result('type', 'fail', `signed._type is ${JSON.stringify(next.type.slice(0, 40))}; ${name} has "${expected}".`, v);
  }
  if (trusted !== undefined && trusted.dialect !== next.dialect) {
    return result('type', 'fail', `Version ${v} is ${name}, but the trusted version ${trusted.version} is not; a root cannot change dialect.`, v);
  }
  return result('type', 'pass', `signed._type is "${expected}", ${name}${trusted === undefined ? '' : ' like the trusted one'}.`, v);
}

function versionRule(trusted: Root, next: Root): RuleResult {
  const want = trusted.version + 1;
  const v = next.version;
  // TUF spec 5.3.5 / libaktualizr: the version must be exactly N+1 (no skips, no repeats).
  if (v !== want) {
    return result('version', 'fail', `Version ${v} does not follow the trusted version ${trusted.version}; it must be exactly ${want}.`, v);
  }
  return result('version', 'pass', `Version ${v} follows the trusted version ${trusted.version}.`, v);
}

function expiryRule(next: Root, now: Date, check: boolean): RuleResult {
  const v = next.version;
  if (!check) {
    return result('expiry', 'info', `Expiry of version ${v} (${next.expires}) not checked: clients check only the final root of a chain.`, v);
  }
  // TUF spec 5.3.10: the final root must not be expired.
  if (next.expiresAt.getTime() <= now.getTime()) {
    return result('expiry', 'fail', `Version ${v} expired at ${next.expires}; clients refuse an expired root.`, v);
  }
  return result('expiry', 'pass', `Version ${v} expires at ${next.expires}.`, v);
}

function rolesCompleteRule(next: Root): RuleResult {
  const missing = REQUIRED_ROLES.filter((r) => has(next.roles, r) === undefined);
  if (missing.length > 0) {
    return result('roles-complete', 'fail', `Roles missing: ${missing.join(', ')}; a root defines root, targets, snapshot and timestamp.`, next.version);
  }
  return result('roles-complete', 'pass', 'The root, targets, snapshot and timestamp roles are all defined.', next.version);
}

function roleKeysPresentRule(next: Root): RuleResult {
  const problems: string[] = [];
  for (const [name, role] of Object.entries(next.roles)) {
    const missing = role.keyids.filter((id) => has(next.keys, id) === undefined);
    if (missing.length > 0) problems.push(`role ${name} lists ${list(missing)}`);
  }
  if (problems.length > 0) {
    return result('role-keys-present', 'fail', `Key IDs not found in keys: ${problems.join('; ')}.`, next.version);
  }
  return result('role-keys-present', 'pass', 'Every key ID of every role is defined in keys.', next.version);
}

/** Distinct public keys among a role's key IDs (IDs missing from keys are not counted). */
function distinctKeysOfRole(role: RootRole, keys: Record<string, RootKey>): number {
  const ids = new Set<string>();
  for (const keyId of role.keyids) {
    const key = has(keys, keyId);
    if (key !== undefined) ids.add(identityOf(key));
  }
  return ids.size;
}

function thresholdsReachableRule(next: Root): RuleResult {
  const problems: string[] = [];
  for (const [name, role] of Object.entries(next.roles)) {
    const t = role.threshold;
    if (!Number.isInteger(t) || t < 1) {
      problems.push(`role ${name} has threshold ${t}, which must be at least 1`);
      continue;
    }
    if (next.dialect === 'foundries' && t > FOUNDRIES_MAX_THRESHOLD) {
      problems.push(`role ${name} has threshold ${t}, above the Foundries maximum of ${FOUNDRIES_MAX_THRESHOLD}`);
    }
    const n = distinctKeysOfRole(role, next.keys);
    if (t > n) problems.push(`role ${name} needs ${t} signatures but has only ${plural(n, 'distinct key')}`);
  }
  if (problems.length > 0) return result('thresholds-reachable', 'fail', `Unreachable thresholds: ${problems.join('; ')}.`, next.version);
  return result('thresholds-reachable', 'pass', 'Every role threshold is at least 1 and reachable with distinct keys.', next.version);
}

/**
 * One public key under two key IDs. Devices, tuf-js and python-tuf count key IDs, so such a key
 * counts twice toward a threshold there; we count it once. That changes an outcome exactly when a
 * role with threshold ≥ 2 lists two IDs of the same key (one signer could then satisfy devices):
 * fail. Otherwise (threshold 1, or the IDs sit in different roles) it is harmless: warn.
 */
function distinctKeysRule(next: Root): RuleResult {
  const v = next.version;
  const byKey = new Map<string, string[]>();
  const undecodable: string[] = [];
  for (const [id, key] of Object.entries(next.keys)) {
    const d = decodeKey(key);
    if (!d.ok) {
      undecodable.push(id);
      continue;
    }
    const ids = byKey.get(d.id);
    if (ids === undefined) byKey.set(d.id, [id]);
    else ids.push(id);
  }
  const groups = [...byKey.values()].filter((ids) => ids.length > 1);
  const failing: string[] = [];
  for (const [name, role] of Object.entries(next.roles)) {
    if (role.threshold < 2) continue;
    const inRole = new Set(role.keyids);
    for (const ids of groups) {
      const shared = ids.filter((id) => inRole.has(id));
      if (shared.length > 1) failing.push(`role ${name} (threshold ${role.threshold}) lists ${list(shared)}`);
    }
  }
  const notes: string[] = [];
  if (undecodable.length > 0 && next.dialect === 'spec') {
    notes.push(`Keys ${list(undecodable)} could not be decoded, so their signatures cannot count.`);
  }
  if (failing.length > 0) {
    return result(
      'distinct-keys',
      'fail',
      `One public key is listed under several key IDs: ${failing.join('; ')}; clients that count key IDs would let that one key count more than once toward the threshold.`,
      v,
    );
  }
  if (groups.length > 0) {
    const named = groups.map((ids) => list(ids)).join('; ');
    notes.unshift(
      `One public key is listed under several key IDs (${named}); it counts once here, and no threshold depends on it.`,
    );
  }
  if (notes.length > 0) return result('distinct-keys', 'warn', notes.join(' '), v);
  return result('distinct-keys', 'pass', `All ${plural(Object.keys(next.keys).length, 'key')} are distinct public keys.`, v);
}

function signaturesUniqueRule(next: Root): RuleResult {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const s of next.signatures) {
    if (seen.has(s.keyid)) dup.add(s.keyid);
    seen.add(s.keyid);
  }
  if (dup.size > 0) {
    const who =
      next.dialect === 'foundries' ? 'devices reject the whole root' : 'tuf-js and python-tuf refuse the root when parsing it';
    return result('signatures-unique', 'fail', `Key ${list(dup)} signs more than once; ${who}.`, next.version);
  }
  return result('signatures-unique', 'pass', `${plural(next.signatures.length, 'signature')}, each by a different key ID.`, next.version);
}

function signatureMethodsRule(next: Root): RuleResult {
  const bad: string[] = [];
  for (const s of next.signatures) {
    const m = s.method;
    if (m === undefined) bad.push(`${short(s.keyid)} has no method`);
    else if (!FOUNDRIES_METHODS.has(m.toLowerCase())) bad.push(`${short(s.keyid)} uses ${JSON.stringify(m.slice(0, 40))}`);
  }
  if (bad.length > 0) {
    return result(
      'signature-methods',
      'fail',
      `Signatures with a method other than ed25519 or rsassa-pss-sha256 (${bad.join('; ')}); devices reject the whole root, even for a signature by a key they do not know.`,
      next.version,
    );
  }
  return result('signature-methods', 'pass', 'Every signature method is ed25519 or rsassa-pss-sha256.', next.version);
}

function keyTypesRule(next: Root): RuleResult {
  const bad: string[] = [];
  for (const [id, key] of Object.entries(next.keys)) {
    const k = short(id);
    if (!FOUNDRIES_KEYTYPES.has(key.keytype)) {
      bad.push(`${k} has keytype ${JSON.stringify(key.keytype.slice(0, 40))}`);
      continue;
    }
    const extra = Object.keys(key.json).filter((f) => f !== 'keytype' && f !== 'keyval');
    const keyval = key.json.keyval;
    const extraVal = isJsonObject(keyval) ? Object.keys(keyval).filter((f) => f !== 'public') : [];
    if (extra.length > 0) bad.push(`${k} has extra fields ${extra.map((f) => JSON.stringify(f.slice(0, 40))).join(', ')}`);
    if (extraVal.length > 0) bad.push(`${k} has extra keyval fields ${extraVal.map((f) => JSON.stringify(f.slice(0, 40))).join(', ')}`);
    const d = decodeKey(key);
    if (!d.ok) bad.push(`${k} cannot be used: ${d.reason}`);
  }
  if (bad.length > 0) {
    return result(
      'key-types',
      'fail',
      `Keys devices cannot read (${bad.join('; ')}); a key object must be exactly {keytype: "RSA" or "ED25519", keyval: {public}}, or devices reject the whole root.`,
      next.version,
    );
  }
  return result('key-types', 'pass', 'Every key is an RSA or ED25519 key object with no extra fields.', next.version);
}

function keyIdHashRule(next: Root): RuleResult {
  const bad: string[] = [];
  for (const [id, key] of Object.entries(next.keys)) {
    let computed: string | undefined;
    try {
      computed = keyIdSpec(key.json);
    } catch {
      computed = undefined;
    }
    if (computed !== id) bad.push(id);
  }
  if (bad.length > 0) {
    return result(
      'keyid-hash',
      'warn',
      `In version ${next.version}, key ${list(bad)} is listed under a key ID that is not the hash of its key object; tuf-js and python-tuf accept that, stricter clients (tough) refuse it.`,
      next.version,
    );
  }
  return result('keyid-hash', 'pass', 'Every key ID is the SHA-256 of its key object.', next.version);
}

const PEM_TEXT = /^[\x20-\x7e\n]*$/;

function canonicalAsciiRule(next: Root): RuleResult {
  // RSA PEM public keys are exempt: their newlines are the one known difference between the forms,
  // and the device's form (which escapes them) is the one we sign and verify.
  const pemProblems: string[] = [];
  let signed: JsonObject = next.signedJson;
  const keysJson = next.signedJson.keys;
  if (isJsonObject(keysJson)) {
    const keysCopy: JsonObject = { ...keysJson };
    for (const [id, key] of Object.entries(next.keys)) {
      if (key.algorithm !== 'rsa') continue;
      if (!PEM_TEXT.test(key.public)) pemProblems.push(`${childPath(childPath('signed.keys', id), 'keyval')}.public`);
      const original = keysCopy[id];
      if (isJsonObject(original) && isJsonObject(original.keyval)) {
        keysCopy[id] = { ...original, keyval: { ...original.keyval, public: '' } };
      }
    }
    signed = { ...next.signedJson, keys: keysCopy };
  }
  const paths = [...nonAsciiStrings(signed, 'signed'), ...pemProblems];
  if (paths.length > 0) {
    const shown = paths.slice(0, 5).join(', ') + (paths.length > 5 ? ` and ${paths.length - 5} more` : '');
    return result(
      'canonical-ascii',
      'fail',
      `Strings with characters outside printable ASCII at ${shown}; devices, fioctl and the Foundries server would each sign different bytes.`,
      next.version,
    );
  }
  return result('canonical-ascii', 'pass', 'Every signed string is printable ASCII (RSA PEM keys aside).', next.version);
}

function sizeRule(next: Root): RuleResult {
  const doc: JsonObject = { signatures: next.signatures.map((s) => s.json), signed: next.signedJson };
  const bytes = Buffer.byteLength(JSON.stringify(doc), 'utf8');
  const measure = `${bytes} bytes as compact JSON (the file as written may be larger)`;
  if (bytes > FOUNDRIES_MAX_ROOT_BYTES) {
    return result('size', 'fail', `The document is ${measure}; the Foundries limit is ${FOUNDRIES_MAX_ROOT_BYTES} bytes (64 KiB).`, next.version);
  }
  return result('size', 'pass', `The document is ${measure}, within the 64 KiB limit.`, next.version);
}

/** threshold-old / threshold-new: enough distinct keys of `role` signed the new root. */
function thresholdRule(
  rule: 'threshold-old' | 'threshold-new',
  sigs: SignatureSet | undefined,
  canonError: string | undefined,
  owner: Root,
  next: Root,
): { result: RuleResult; met: boolean } {
  const v = next.version;
  const whose = rule === 'threshold-old' ? `the trusted version ${owner.version}'s root role` : `version ${v}'s own root role`;
  const role = has(owner.roles, 'root');
  if (sigs === undefined) {
    return { result: result(rule, 'fail', `No signature can be checked: ${canonError ?? 'the signed part cannot be canonicalised'}.`, v), met: false };
  }
  if (role === undefined) return { result: result(rule, 'fail', `There is no root role: ${whose} is missing.`, v), met: false };
  const { distinct, keyIds } = sigs.count(role, owner.keys);
  // A threshold below 1 never counts as met: the thresholds-reachable rule reports it.
  const need = Math.max(1, role.threshold);
  const met = distinct >= need;
  const found = `${plural(distinct, 'valid signature')} from distinct keys of ${whose} (${list(keyIds)}); it needs ${role.threshold}`;
  if (!met) {
    const who = rule === 'threshold-old' ? 'the keys the current root trusts' : 'the keys the new root names for itself';
    return { result: result(rule, 'fail', `${found}: not enough signatures by ${who}.`, v), met };
  }
  return { result: result(rule, 'pass', `${found}.`, v), met };
}

function canonicalError(e: unknown): string {
  if (isAppError(e)) return e.message;
  throw e;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/**
 * Foundries roots holding an RSA key: fioctl canonicalises differently (raw newlines in PEM keys).
 * The device's form decides; this only says whether fioctl's would verify too.
 */
function fioctlFormRule(trusted: Root | undefined, next: Root, deviceBytes: Uint8Array, deviceOk: boolean): RuleResult {
  const v = next.version;
  let bytes: Uint8Array;
  try {
    bytes = canonicalFioctl(next.signedJson, 'signed');
  } catch (e) {
    return result('fioctl-form', 'info', `fioctl's byte form cannot be built (${canonicalError(e)}); the device's form decides.`, v);
  }
  const note = `Version ${v} holds an RSA key; Ed25519 keys avoid the difference.`;
  if (bytesEqual(bytes, deviceBytes)) {
    return result('fioctl-form', 'info', `fioctl's byte form is identical to the device's, so signatures verify for both. ${note}`, v);
  }
  const sigs = new SignatureSet(next, bytes);
  const role = has(next.roles, 'root');
  const oldRole = trusted === undefined ? undefined : has(trusted.roles, 'root');
  const newMet = role !== undefined && sigs.count(role, next.keys).distinct >= Math.max(1, role.threshold);
  const oldMet =
    trusted === undefined || (oldRole !== undefined && sigs.count(oldRole, trusted.keys).distinct >= Math.max(1, oldRole.threshold));
  const fioctlOk = newMet && oldMet;
  if (deviceOk && !fioctlOk) {
    return result(
      'fioctl-form',
      'warn',
      `Signatures verify over the device's byte form (which decides) but not over fioctl's, which writes the newlines of RSA PEM keys raw; devices accept this root, fioctl's own check would not. ${note}`,
      v,
    );
  }
  if (fioctlOk) {
    return result('fioctl-form', 'info', `Signatures verify over fioctl's byte form as well as the device's. ${note}`, v);
  }
  return result('fioctl-form', 'info', `Signatures meet the thresholds over neither the device's byte form nor fioctl's. ${note}`, v);
}

// ---------------------------------------------------------------------------------------------
// Reports

/** The rules about `next` alone, in checklist order, between `expiry` and the signature rules. */
function structuralRules(next: Root): RuleResult[] {
  const out = [
    rolesCompleteRule(next),
    roleKeysPresentRule(next),
    thresholdsReachableRule(next),
    distinctKeysRule(next),
    signaturesUniqueRule(next),
  ];
  if (next.dialect === 'foundries') out.push(signatureMethodsRule(next), keyTypesRule(next));
  else out.push(keyIdHashRule(next));
  if (next.dialect === 'foundries') out.push(canonicalAsciiRule(next), sizeRule(next));
  return out;
}

function signatureRules(trusted: Root | undefined, next: Root): RuleResult[] {
  let bytes: Uint8Array | undefined;
  let canonError: string | undefined;
  try {
    bytes = canonicalBytes(next.dialect, next.signedJson);
  } catch (e) {
    canonError = canonicalError(e);
  }
  const sigs = bytes === undefined ? undefined : new SignatureSet(next, bytes);
  const out: RuleResult[] = [];
  let oldMet = true;
  if (trusted !== undefined) {
    // TUF spec 5.3.4: version N+1 must be signed by a threshold of version N's root keys…
    const r = thresholdRule('threshold-old', sigs, canonError, trusted, next);
    out.push(r.result);
    oldMet = r.met;
  }
  // …and by a threshold of its own root keys.
  const n = thresholdRule('threshold-new', sigs, canonError, next, next);
  out.push(n.result);
  if (next.dialect === 'foundries' && bytes !== undefined && Object.values(next.keys).some((k) => k.algorithm === 'rsa')) {
    out.push(fioctlFormRule(trusted, next, bytes, oldMet && n.met));
  }
  return out;
}

function report(next: Root, results: RuleResult[]): VerifyReport {
  return { ok: results.every((r) => r.status !== 'fail'), dialect: next.dialect, results };
}

/**
 * Would a client holding `trusted` accept `next` as its next root? Every rule of next's dialect,
 * in checklist order; `ok` when none fails. Expiry is checked unless `checkExpiry` is false.
 */
export function verifyRootUpdate(trusted: Root, next: Root, opts: VerifyOptions): VerifyReport {
  return report(next, [
    typeRule(trusted, next),
    versionRule(trusted, next),
    expiryRule(next, opts.now, opts.checkExpiry ?? true),
    ...structuralRules(next),
    ...signatureRules(trusted, next),
  ]);
}

/** A trust anchor (usually version 1): the structural rules and its own threshold, no version rule. */
export function verifySelfSigned(root: Root, opts: VerifyOptions): VerifyReport {
  return report(root, [
    typeRule(undefined, root),
    expiryRule(root, opts.now, opts.checkExpiry ?? true),
    ...structuralRules(root),
    ...signatureRules(undefined, root),
  ]);
}

/**
 * Walks `chain` from `trusted` like a client far behind: each root against the last accepted one,
 * expiry of the final root only (TUF spec 5.3.10; libaktualizr does the same). Stops at the first
 * root that fails; `warnings` gathers every 'warn' result of the steps taken.
 */
export function verifyChain(trusted: Root, chain: Root[], opts: { now: Date }): ChainReport {
  const steps: VerifyReport[] = [];
  const warnings: RuleResult[] = [];
  let current = trusted;
  for (const [i, next] of chain.entries()) {
    const step = verifyRootUpdate(current, next, { now: opts.now, checkExpiry: i === chain.length - 1 });
    steps.push(step);
    for (const r of step.results) if (r.status === 'warn') warnings.push(r);
    if (!step.ok) return { ok: false, finalVersion: current.version, failedAt: next.version, steps, warnings };
    current = next;
  }
  return { ok: true, finalVersion: current.version, failedAt: undefined, steps, warnings };
}

/**
 * A warning when `root` expires within `days` of `now` (or already has), else undefined. Shown
 * beside the current root; the `expiry` rule is what refuses an expired root.
 */
export function expiryWarning(root: Root, now: Date, days = 30): RuleResult | undefined {
  const left = root.expiresAt.getTime() - now.getTime();
  if (left > days * DAY_MS) return undefined;
  const v = root.version;
  if (left <= 0) return result('expiry', 'warn', `Version ${v} expired at ${root.expires}.`, v);
  const d = Math.floor(left / DAY_MS);
  const when = d === 0 ? 'in less than a day' : `in ${plural(d, 'day')}`;
  return result('expiry', 'warn', `Version ${v} expires at ${root.expires}, ${when}; rotate or re-sign it before then.`, v);
}
