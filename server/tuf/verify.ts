/**
 * The verifier: does a new root pass every rule its dialect's clients apply when they update from a
 * trusted root (docs/tuf-dialects.md), plus the one rule none of them enforces (one public key under
 * two key IDs counts once)? Every rule yields a RuleResult, in checklist order, so the UI can show
 * the whole list and the CLI can print it. Each result names whose rule it is (`sources`: the device,
 * the Foundries API, tuf-js/python-tuf, tough, fioctl or tuf-rotate), and every report ends with a
 * matrix of what each verifier would do. Rules only the Foundries API holds warn, or fail when the
 * root is on its way to a Factory (`factory`).
 *
 * Pure: no fs, no network. Decoded public keys are cached across calls (a chain of 1,000 roots
 * reuses the same handful of keys), `signed` is canonicalised once per step, and each signature is
 * checked at most once per step even when its key sits in both the old and the new root role.
 */
import { isAppError } from '../errors.js';
import { canonicalBytes, canonicalFioctl, childPath, nonAsciiStrings } from './canonical-json.js';
import type { JsonObject } from './json.js';
import { isJsonObject } from './json.js';
import { keyIdSpec, publicKeyOf, publicKeyString } from './public-key.js';
import { REQUIRED_ROLES } from './metadata.js';
import type {
  ChainReport,
  Dialect,
  PublicKeyInfo,
  Root,
  RootKey,
  RootRole,
  RuleId,
  RuleResult,
  RuleSource,
  VerifierVerdict,
  VerifyReport,
} from './model.js';
import { rsaPssSaltLength } from './pss-salt.js';
import { decodeSignature, verifySignature } from './sign.js';

export interface VerifyOptions {
  now: Date;
  /** Check that the new root has not expired (default true; a chain checks only its final root). */
  checkExpiry?: boolean;
  /**
   * The root is about to be published to a Factory (a rotation to a factory or practice target):
   * rules only the Foundries API holds fail. Otherwise (a plain `verify`) they warn, since devices
   * accept such a root.
   */
  factory?: boolean;
}

/** Foundries: the server refuses a root file larger than this (docs/tuf-dialects.md, Fields). */
export const FOUNDRIES_MAX_ROOT_BYTES = 64 * 1024;
/** Foundries: ota-tuf's IllegalThreshold bound. */
export const FOUNDRIES_MAX_THRESHOLD = 1000;
/** The only signature methods a Foundries device accepts (compared after lowercasing, like notary). */
const FOUNDRIES_METHODS = new Set(['ed25519', 'rsassa-pss-sha256']);
const FOUNDRIES_KEYTYPES = new Set(['RSA', 'ED25519']);
/** The RSA modulus sizes the Foundries API takes (foundries-operations.md §6.3, 19). */
const FOUNDRIES_RSA_BITS = new Set([2048, 3072, 4096]);
/** The Foundries API's RSA-PSS salt length (devices accept any). */
const FOUNDRIES_PSS_SALT = 32;
/** libaktualizr parses `expires` only in exactly this form (20 characters, UTC, no fraction). */
const DEVICE_EXPIRES = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
/** The fields of a Foundries root's `signed` that the API models (ota-tuf's re-encode rule). */
const API_SIGNED_FIELDS = new Set(['_type', 'consistent_snapshot', 'expires', 'keys', 'roles', 'version', 'x-changelog', 'x-key-owners']);
const API_CHANGELOG_FIELDS = new Set(['message', 'polis-id', 'timestamp']);
const API_OWNER_FIELDS = new Set(['created-at', 'polis-id']);
const DAY_MS = 24 * 60 * 60 * 1000;

/** Every verifier of a dialect: a rule they all hold. */
function everyone(dialect: Dialect): RuleSource[] {
  return dialect === 'foundries' ? ['device', 'foundries-api'] : ['spec-clients', 'strict-clients'];
}

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
  count(role: RootRole, keys: Record<string, RootKey>): { distinct: number; keyIds: string[]; byKeyId: number } {
    const inRole = new Set(role.keyids);
    const seen = new Set<string>();
    const keyIds: string[] = [];
    // What clients that count key IDs (devices, tuf-js, python-tuf) would count.
    const validIds = new Set<string>();
    this.#root.signatures.forEach((s, i) => {
      if (s.sig === '' || !inRole.has(s.keyid)) return;
      const key = has(keys, s.keyid);
      if (key === undefined) return;
      const d = decodeKey(key);
      if (!d.ok) return;
      if (seen.has(d.id)) {
        if (!validIds.has(s.keyid) && this.#valid(i, d.pub, d.id)) validIds.add(s.keyid);
        return;
      }
      if (this.#valid(i, d.pub, d.id)) {
        seen.add(d.id);
        keyIds.push(s.keyid);
        validIds.add(s.keyid);
      }
    });
    return { distinct: seen.size, keyIds, byKeyId: validIds.size };
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

function result(rule: RuleId, status: Status, message: string, version: number, sources: RuleSource[], shortText?: string): RuleResult {
  const r: RuleResult = { rule, status, message, version, sources };
  if (shortText !== undefined && status !== 'pass' && status !== 'info') r.short = shortText;
  return r;
}

/** A rule only the Foundries API holds: a failure before publishing to a Factory, else a warning. */
function apiOnly(opts: VerifyOptions): { status: Status; tail: string } {
  return opts.factory
    ? { status: 'fail', tail: 'the Factory’s API refuses it, so it cannot be published there (devices would accept it)' }
    : { status: 'warn', tail: 'devices accept it, but the Factory’s API refuses it: this fails before publishing to a Factory' };
}

function q(s: string): string {
  return JSON.stringify(s.slice(0, 40));
}

function typeRule(trusted: Root | undefined, next: Root): RuleResult {
  const v = next.version;
  const who = everyone(next.dialect);
  const expected = next.dialect === 'foundries' ? 'Root' : 'root';
  const name = next.dialect === 'foundries' ? 'a Foundries root' : 'a TUF specification root';
  if (next.type !== expected) {
    return result('type', 'fail', `signed._type is ${q(next.type)}; ${name} has "${expected}".`, v, who, `_type ${q(next.type)}, needs "${expected}"`);
  }
  if (trusted !== undefined && trusted.dialect !== next.dialect) {
    return result('type', 'fail', `Version ${v} is ${name}, but the trusted version ${trusted.version} is not; a root cannot change dialect.`, v, who, 'a root cannot change dialect');
  }
  return result('type', 'pass', `signed._type is "${expected}", ${name}${trusted === undefined ? '' : ' like the trusted one'}.`, v, who);
}

function versionRule(trusted: Root, next: Root): RuleResult {
  const want = trusted.version + 1;
  const v = next.version;
  const who = everyone(next.dialect);
  // TUF spec 5.3.5 / libaktualizr: the version must be exactly N+1 (no skips, no repeats).
  if (v !== want) {
    return result('version', 'fail', `Version ${v} does not follow the trusted version ${trusted.version}; it must be exactly ${want}.`, v, who, `version ${v}, needs ${want}`);
  }
  return result('version', 'pass', `Version ${v} follows the trusted version ${trusted.version}.`, v, who);
}

/** The date part of an instant, for messages: 2026-11-20. */
function day(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function expiryRule(next: Root, now: Date, check: boolean): RuleResult {
  const v = next.version;
  const who = everyone(next.dialect);
  if (!check) {
    return result('expiry', 'info', `Expiry of version ${v} (${next.expires}) not checked: clients check only the final root of a chain.`, v, who);
  }
  // TUF spec 5.3.10: the final root must not be expired.
  if (next.expiresAt.getTime() <= now.getTime()) {
    return result(
      'expiry',
      'fail',
      `Version ${v} expired at ${next.expires} (checked as of ${now.toISOString()}); clients refuse an expired root.`,
      v,
      who,
      `version ${v} expired on ${day(next.expiresAt)}`,
    );
  }
  return result('expiry', 'pass', `Version ${v} expires at ${next.expires} (checked as of ${now.toISOString()}).`, v, who);
}

/** Foundries: libaktualizr reads `expires` only as exactly YYYY-MM-DDTHH:MM:SSZ. */
function expiresFormatRule(next: Root): RuleResult {
  const v = next.version;
  const who: RuleSource[] = ['device', 'foundries-api'];
  if (!DEVICE_EXPIRES.test(next.expires)) {
    return result(
      'expires-format',
      'fail',
      `expires is ${q(next.expires)}, not exactly YYYY-MM-DDTHH:MM:SSZ (UTC, no fraction, no offset); libaktualizr refuses such a root.`,
      v,
      who,
      `expires ${q(next.expires)} is not YYYY-MM-DDTHH:MM:SSZ`,
    );
  }
  return result('expires-format', 'pass', `expires is written exactly as YYYY-MM-DDTHH:MM:SSZ, as devices read it.`, v, who);
}

function rolesCompleteRule(next: Root): RuleResult {
  const who = everyone(next.dialect);
  const missing = REQUIRED_ROLES.filter((r) => has(next.roles, r) === undefined);
  if (missing.length > 0) {
    return result('roles-complete', 'fail', `Roles missing: ${missing.join(', ')}; a root defines root, targets, snapshot and timestamp.`, next.version, who, `role ${missing.join(', ')} missing`);
  }
  return result('roles-complete', 'pass', 'The root, targets, snapshot and timestamp roles are all defined.', next.version, who);
}

function roleKeysPresentRule(next: Root): RuleResult {
  const who = everyone(next.dialect);
  const problems: string[] = [];
  for (const [name, role] of Object.entries(next.roles)) {
    const missing = role.keyids.filter((id) => has(next.keys, id) === undefined);
    if (missing.length > 0) problems.push(`role ${name} lists ${list(missing)}`);
  }
  if (problems.length > 0) {
    return result('role-keys-present', 'fail', `Key IDs not found in keys: ${problems.join('; ')}.`, next.version, who, `key IDs missing from keys (${problems.join('; ')})`);
  }
  return result('role-keys-present', 'pass', 'Every key ID of every role is defined in keys.', next.version, who);
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
  // Problems every client sees, and those only we see (enough key IDs, too few distinct keys).
  const problems: string[] = [];
  const ours: string[] = [];
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
    if (t <= n) continue;
    const byId = new Set(role.keyids.filter((id) => has(next.keys, id) !== undefined)).size;
    (t <= byId ? ours : problems).push(`role ${name} needs ${t} signatures but has only ${plural(n, 'distinct key')}`);
  }
  const all = [...problems, ...ours];
  if (all.length > 0) {
    const who: RuleSource[] = problems.length > 0 ? everyone(next.dialect) : ['tuf-rotate'];
    const note = problems.length > 0 ? '' : ' (clients that count key IDs would not notice)';
    return result('thresholds-reachable', 'fail', `Unreachable thresholds: ${all.join('; ')}${note}.`, next.version, who, all.join('; '));
  }
  return result('thresholds-reachable', 'pass', 'Every role threshold is at least 1 and reachable with distinct keys.', next.version, everyone(next.dialect));
}

/**
 * One public key under two key IDs. Devices, tuf-js and python-tuf count key IDs, so such a key
 * counts twice toward a threshold there; we count it once. That changes an outcome exactly when a
 * role with threshold ≥ 2 lists two IDs of the same key (one signer could then satisfy devices):
 * fail. Otherwise (threshold 1, or the IDs sit in different roles) it is harmless: warn.
 * tuf-rotate's own rule: none of the clients enforces it.
 */
function distinctKeysRule(next: Root): RuleResult {
  const v = next.version;
  const who: RuleSource[] = ['tuf-rotate'];
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
      who,
      `one key under several key IDs in a threshold (${failing.join('; ')})`,
    );
  }
  if (groups.length > 0) {
    const named = groups.map((ids) => list(ids)).join('; ');
    notes.unshift(
      `One public key is listed under several key IDs (${named}); it counts once here, and no threshold depends on it.`,
    );
  }
  if (notes.length > 0) return result('distinct-keys', 'warn', notes.join(' '), v, who, 'a key listed twice');
  return result('distinct-keys', 'pass', `All ${plural(Object.keys(next.keys).length, 'key')} are distinct public keys.`, v, who);
}

function signaturesUniqueRule(next: Root): RuleResult {
  // Foundries: libaktualizr refuses (NonUniqueSignatures); ota-tuf keeps the last one (cases.json).
  // Spec: tuf-js and python-tuf refuse the document when parsing it.
  const who: RuleSource[] = next.dialect === 'foundries' ? ['device'] : ['spec-clients'];
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const s of next.signatures) {
    if (seen.has(s.keyid)) dup.add(s.keyid);
    seen.add(s.keyid);
  }
  if (dup.size > 0) {
    const why =
      next.dialect === 'foundries' ? 'devices reject the whole root' : 'tuf-js and python-tuf refuse the root when parsing it';
    return result('signatures-unique', 'fail', `Key ${list(dup)} signs more than once; ${why}.`, next.version, who, `key ${list(dup)} signs twice`);
  }
  return result('signatures-unique', 'pass', `${plural(next.signatures.length, 'signature')}, each by a different key ID.`, next.version, who);
}

function signatureMethodsRule(next: Root): RuleResult {
  const who: RuleSource[] = ['device', 'foundries-api'];
  const bad: string[] = [];
  for (const s of next.signatures) {
    const m = s.method;
    if (m === undefined) bad.push(`${short(s.keyid)} has no method`);
    else if (!FOUNDRIES_METHODS.has(m.toLowerCase())) bad.push(`${short(s.keyid)} uses ${q(m)}`);
  }
  if (bad.length > 0) {
    return result(
      'signature-methods',
      'fail',
      `Signatures with a method other than ed25519 or rsassa-pss-sha256 (${bad.join('; ')}); devices reject the whole root, even for a signature by a key they do not know.`,
      next.version,
      who,
      `signature method ${bad.join('; ')}`,
    );
  }
  return result('signature-methods', 'pass', 'Every signature method is ed25519 or rsassa-pss-sha256.', next.version, who);
}

/** The device's rule: every key is RSA or ED25519 (compared case-insensitively) and can be read. */
function keyTypesRule(next: Root): RuleResult {
  const who: RuleSource[] = ['device', 'foundries-api'];
  const bad: string[] = [];
  for (const [id, key] of Object.entries(next.keys)) {
    const k = short(id);
    if (!FOUNDRIES_KEYTYPES.has(key.keytype.toUpperCase())) {
      bad.push(`${k} has keytype ${q(key.keytype)}`);
      continue;
    }
    const d = decodeKey(key);
    if (!d.ok) bad.push(`${k} cannot be used: ${d.reason}`);
  }
  if (bad.length > 0) {
    return result(
      'key-types',
      'fail',
      `Keys devices cannot read (${bad.join('; ')}); any key other than an RSA or ED25519 key makes devices reject the whole root.`,
      next.version,
      who,
      bad.join('; '),
    );
  }
  return result('key-types', 'pass', 'Every key is an RSA or ED25519 key devices can read.', next.version, who);
}

/**
 * The API's rule: key objects exactly as the API writes them — `{"keytype":"RSA"|"ED25519",
 * "keyval":{"public":…}}`, keytype in upper case (devices compare it case-insensitively), Ed25519
 * public as 64 lower-case hex, RSA public as SPKI PEM (LF, trailing newline) of 2048/3072/4096 bits.
 */
function apiKeyFormRule(next: Root, opts: VerifyOptions): RuleResult {
  const who: RuleSource[] = ['foundries-api'];
  const bad: string[] = [];
  for (const [id, key] of Object.entries(next.keys)) {
    const k = short(id);
    const upper = key.keytype.toUpperCase();
    if (!FOUNDRIES_KEYTYPES.has(upper)) continue; // the key-types rule reports it
    if (key.keytype !== upper) bad.push(`${k} has keytype ${q(key.keytype)}, the API wants "${upper}"`);
    const extra = Object.keys(key.json).filter((f) => f !== 'keytype' && f !== 'keyval');
    const keyval = key.json.keyval;
    const extraVal = isJsonObject(keyval) ? Object.keys(keyval).filter((f) => f !== 'public') : [];
    if (extra.length > 0) bad.push(`${k} has extra fields ${extra.map(q).join(', ')}`);
    if (extraVal.length > 0) bad.push(`${k} has extra keyval fields ${extraVal.map(q).join(', ')}`);
    const d = decodeKey(key);
    if (!d.ok) continue;
    if (d.pub.algorithm === 'ed25519' && !/^[0-9a-f]{64}$/.test(key.public)) bad.push(`${k}'s Ed25519 public key is not 64 lower-case hex characters`);
    if (d.pub.algorithm === 'rsa') {
      if (key.public !== publicKeyString(d.pub)) bad.push(`${k}'s RSA public key is not written as SPKI PEM with LF line ends and a final newline`);
      if (!FOUNDRIES_RSA_BITS.has(d.pub.bits)) bad.push(`${k} is RSA-${d.pub.bits}, the API takes 2048, 3072 or 4096 bits`);
    }
  }
  if (bad.length > 0) {
    const a = apiOnly(opts);
    return result(
      'api-key-form',
      a.status,
      `Key objects not written as the Foundries API writes them (${bad.join('; ')}); ${a.tail}.`,
      next.version,
      who,
      bad.join('; '),
    );
  }
  return result('api-key-form', 'pass', 'Every key object is exactly {keytype: "RSA" or "ED25519", keyval: {public}}, as the Foundries API writes it.', next.version, who);
}

/** The API's rule: no unknown fields in `signed` (ota-tuf re-encodes what it models and compares). */
function apiFieldsRule(next: Root, opts: VerifyOptions): RuleResult {
  const who: RuleSource[] = ['foundries-api'];
  const s = next.signedJson;
  const bad: string[] = [];
  const unknownTop = Object.keys(s).filter((f) => !API_SIGNED_FIELDS.has(f));
  if (unknownTop.length > 0) bad.push(`unknown fields ${unknownTop.map((f) => childPath('signed', f)).join(', ')}`);
  const roles = s.roles;
  if (isJsonObject(roles)) {
    for (const [name, role] of Object.entries(roles)) {
      const path = childPath('signed.roles', name);
      if (!(REQUIRED_ROLES as readonly string[]).includes(name)) bad.push(`an unknown role ${path}`);
      if (isJsonObject(role)) {
        const extra = Object.keys(role).filter((f) => f !== 'keyids' && f !== 'threshold');
        if (extra.length > 0) bad.push(`unknown fields ${extra.map((f) => childPath(path, f)).join(', ')}`);
      }
    }
  }
  const changelog = s['x-changelog'];
  if (isJsonObject(changelog)) {
    const extra = Object.keys(changelog).filter((f) => !API_CHANGELOG_FIELDS.has(f));
    if (extra.length > 0) bad.push(`unknown fields ${extra.map((f) => childPath('signed.x-changelog', f)).join(', ')}`);
  }
  const owners = s['x-key-owners'];
  if (isJsonObject(owners)) {
    for (const [id, owner] of Object.entries(owners)) {
      if (!isJsonObject(owner)) continue;
      const extra = Object.keys(owner).filter((f) => !API_OWNER_FIELDS.has(f));
      if (extra.length > 0) bad.push(`unknown fields ${extra.map((f) => `${childPath('signed.x-key-owners', short(id))}.${f.slice(0, 40)}`).join(', ')}`);
    }
  }
  if (bad.length > 0) {
    const a = apiOnly(opts);
    const shown = bad.slice(0, 5).join('; ') + (bad.length > 5 ? ` and ${bad.length - 5} more` : '');
    return result('api-fields', a.status, `The signed part holds what the Foundries API does not model (${shown}); ${a.tail}.`, next.version, who, shown);
  }
  return result('api-fields', 'pass', 'The signed part holds only the fields the Foundries API models.', next.version, who);
}

function keyIdHashRule(next: Root): RuleResult {
  const who: RuleSource[] = ['strict-clients'];
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
      who,
      `key ID ${list(bad)} is not the hash of its key`,
    );
  }
  return result('keyid-hash', 'pass', 'Every key ID is the SHA-256 of its key object.', next.version, who);
}

const PEM_TEXT = /^[\x20-\x7e\n]*$/;

function canonicalAsciiRule(next: Root): RuleResult {
  // tuf-rotate's rule: where a string leaves printable ASCII, the device, fioctl and the API write
  // different bytes, so whichever form was signed, one of them refuses the root.
  const who: RuleSource[] = ['tuf-rotate'];
  // RSA PEM public keys are exempt: their newlines are escaped alike by all three (`\n`).
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
      `Strings with characters outside printable ASCII at ${shown}; there the byte forms of devices, fioctl and the Foundries API can differ, so tuf-rotate accepts only printable ASCII (RSA PEM line ends aside).`,
      next.version,
      who,
      `characters outside printable ASCII at ${shown}`,
    );
  }
  return result('canonical-ascii', 'pass', 'Every signed string is printable ASCII (RSA PEM keys aside).', next.version, who);
}

function sizeRule(next: Root): RuleResult {
  const who: RuleSource[] = ['device', 'foundries-api'];
  const doc: JsonObject = { signatures: next.signatures.map((s) => s.json), signed: next.signedJson };
  const bytes = Buffer.byteLength(JSON.stringify(doc), 'utf8');
  const measure = `${bytes} bytes as compact JSON (the file as written may be larger)`;
  if (bytes > FOUNDRIES_MAX_ROOT_BYTES) {
    return result('size', 'fail', `The document is ${measure}; the Foundries limit is ${FOUNDRIES_MAX_ROOT_BYTES} bytes (64 KiB).`, next.version, who, `${bytes} bytes, over 64 KiB`);
  }
  return result('size', 'pass', `The document is ${measure}, within the 64 KiB limit.`, next.version, who);
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
  const who = everyone(next.dialect);
  const whose = rule === 'threshold-old' ? `the trusted version ${owner.version}'s root role` : `version ${v}'s own root role`;
  const brief = rule === 'threshold-old' ? `not signed by ${owner.version === v - 1 ? 'enough keys of the trusted root' : `enough keys of version ${owner.version}`}` : 'not signed by enough of its own root keys';
  const role = has(owner.roles, 'root');
  if (sigs === undefined) {
    return { result: result(rule, 'fail', `No signature can be checked: ${canonError ?? 'the signed part cannot be canonicalised'}.`, v, who, 'signatures cannot be checked'), met: false };
  }
  if (role === undefined) return { result: result(rule, 'fail', `There is no root role: ${whose} is missing.`, v, who, 'no root role'), met: false };
  const { distinct, keyIds, byKeyId } = sigs.count(role, owner.keys);
  // A threshold below 1 never counts as met: the thresholds-reachable rule reports it.
  const need = Math.max(1, role.threshold);
  const met = distinct >= need;
  const found = `${plural(distinct, 'valid signature')} from distinct keys of ${whose} (${list(keyIds)}); it needs ${role.threshold}`;
  if (!met) {
    const whoSigned = rule === 'threshold-old' ? 'the keys the current root trusts' : 'the keys the new root names for itself';
    if (byKeyId >= need) {
      // Clients that count key IDs would accept it: one key under two IDs signed twice.
      return {
        result: result(rule, 'fail', `${found}: not enough signatures by ${whoSigned} (clients that count key IDs would count ${byKeyId}).`, v, ['tuf-rotate'], `${brief} (one key counted once)`),
        met,
      };
    }
    return { result: result(rule, 'fail', `${found}: not enough signatures by ${whoSigned}.`, v, who, brief), met };
  }
  return { result: result(rule, 'pass', `${found}.`, v, who), met };
}

function canonicalError(e: unknown): string {
  if (isAppError(e)) return e.message;
  throw e;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/**
 * The API's rule: every RSA-PSS signature uses salt length 32 (devices accept any). Only for roots
 * with a signature by an RSA key; a signature that does not verify is left to the threshold rules.
 */
function rsaPssSaltRule(trusted: Root | undefined, next: Root, bytes: Uint8Array, opts: VerifyOptions): RuleResult | undefined {
  const who: RuleSource[] = ['foundries-api'];
  let rsaSignatures = 0;
  const bad: string[] = [];
  const salts = new Set<number>();
  for (const s of next.signatures) {
    const key = has(next.keys, s.keyid) ?? (trusted === undefined ? undefined : has(trusted.keys, s.keyid));
    if (key === undefined || key.algorithm !== 'rsa') continue;
    const d = decodeKey(key);
    const raw = decodeSignature(next.dialect, s);
    if (!d.ok || raw === undefined) continue;
    rsaSignatures++;
    const salt = rsaPssSaltLength(d.pub.spki, d.pub.bits, bytes, raw);
    if (salt === undefined || salt === FOUNDRIES_PSS_SALT) continue;
    salts.add(salt);
    bad.push(`${short(s.keyid)} uses salt length ${salt}`);
  }
  if (rsaSignatures === 0) return undefined;
  if (bad.length > 0) {
    const a = apiOnly(opts);
    return result(
      'rsa-pss-salt',
      a.status,
      `RSA-PSS signatures with a salt length other than ${FOUNDRIES_PSS_SALT} (${bad.join('; ')}); ${a.tail}.`,
      next.version,
      who,
      `RSA-PSS salt ${[...salts].join(', ')}, needs ${FOUNDRIES_PSS_SALT}`,
    );
  }
  return result('rsa-pss-salt', 'pass', `Every RSA-PSS signature that verifies uses salt length ${FOUNDRIES_PSS_SALT}, as the Foundries API requires.`, next.version, who);
}

/**
 * Foundries roots holding an RSA key: would fioctl's byte form (Foundries' fork of docker/go, which
 * escapes `\n` `\r` `\t` like the device) verify too? For printable ASCII plus the PEM newlines the
 * two forms are the same bytes; they differ only where the canonical-ascii rule already refuses.
 * The device's form decides; this only says whether fioctl's own check would agree.
 */
function fioctlFormRule(trusted: Root | undefined, next: Root, deviceBytes: Uint8Array, deviceOk: boolean): RuleResult {
  const v = next.version;
  const who: RuleSource[] = ['fioctl'];
  let bytes: Uint8Array;
  try {
    bytes = canonicalFioctl(next.signedJson, 'signed');
  } catch (e) {
    return result('fioctl-form', 'info', `fioctl's byte form cannot be built (${canonicalError(e)}); the device's form decides.`, v, who);
  }
  if (bytesEqual(bytes, deviceBytes)) {
    return result('fioctl-form', 'info', `fioctl's byte form is identical to the device's (both escape the newlines of RSA PEM keys), so the same signatures verify for both.`, v, who);
  }
  const sigs = new SignatureSet(next, bytes);
  const role = has(next.roles, 'root');
  const oldRole = trusted === undefined ? undefined : has(trusted.roles, 'root');
  const newMet = role !== undefined && sigs.count(role, next.keys).distinct >= Math.max(1, role.threshold);
  const oldMet =
    trusted === undefined || (oldRole !== undefined && sigs.count(oldRole, trusted.keys).distinct >= Math.max(1, oldRole.threshold));
  const fioctlOk = newMet && oldMet;
  const why = 'fioctl writes control characters other than \\n \\r \\t, and non-ASCII characters, raw where the device escapes them';
  if (deviceOk && !fioctlOk) {
    return result(
      'fioctl-form',
      'warn',
      `Signatures verify over the device's byte form (which decides) but not over fioctl's: ${why}. Devices accept this root; fioctl's own check would not.`,
      v,
      who,
      'fioctl’s byte form differs',
    );
  }
  if (fioctlOk) {
    return result('fioctl-form', 'info', `Signatures verify over fioctl's byte form as well as the device's.`, v, who);
  }
  return result('fioctl-form', 'info', `Signatures meet the thresholds over neither the device's byte form nor fioctl's (${why}).`, v, who);
}

// ---------------------------------------------------------------------------------------------
// Reports

/** The rules about `next` alone, in checklist order, between `expiry` and the signature rules. */
function structuralRules(next: Root, opts: VerifyOptions): RuleResult[] {
  const out = [
    rolesCompleteRule(next),
    roleKeysPresentRule(next),
    thresholdsReachableRule(next),
    distinctKeysRule(next),
    signaturesUniqueRule(next),
  ];
  if (next.dialect === 'foundries') out.push(signatureMethodsRule(next), keyTypesRule(next), apiKeyFormRule(next, opts), apiFieldsRule(next, opts));
  else out.push(keyIdHashRule(next));
  if (next.dialect === 'foundries') out.push(canonicalAsciiRule(next), sizeRule(next));
  return out;
}

function signatureRules(trusted: Root | undefined, next: Root, opts: VerifyOptions): RuleResult[] {
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
  if (next.dialect === 'foundries' && bytes !== undefined) {
    const salt = rsaPssSaltRule(trusted, next, bytes, opts);
    if (salt !== undefined) out.push(salt);
    if (Object.values(next.keys).some((k) => k.algorithm === 'rsa')) out.push(fioctlFormRule(trusted, next, bytes, oldMet && n.met));
  }
  return out;
}

const VERIFIERS: { verifier: VerifierVerdict['verifier']; label: string; source: RuleSource; dialect: Dialect }[] = [
  { verifier: 'libaktualizr', label: 'libaktualizr', source: 'device', dialect: 'foundries' },
  { verifier: 'foundries-api', label: 'Foundries API', source: 'foundries-api', dialect: 'foundries' },
  { verifier: 'tuf-js/python-tuf', label: 'tuf-js/python-tuf', source: 'spec-clients', dialect: 'spec' },
  { verifier: 'tough', label: 'tough', source: 'strict-clients', dialect: 'spec' },
];

/**
 * Who would accept or refuse, by verifier: a verifier refuses when a result it holds (its source is
 * listed) fails or warns. Verifiers of the other dialect never see the root: not applicable.
 * `prefix` adds the version to each reason (a chain of several steps).
 */
export function verdictMatrix(dialect: Dialect, results: RuleResult[], prefix = false): VerifierVerdict[] {
  return VERIFIERS.map(({ verifier, label, source, dialect: d }) => {
    if (d !== dialect) return { verifier, label, verdict: 'not-applicable' as const, reasons: [] };
    const reasons: string[] = [];
    for (const r of results) {
      if ((r.status !== 'fail' && r.status !== 'warn') || !r.sources.includes(source)) continue;
      const phrase = r.short ?? r.rule;
      const text = prefix && !phrase.startsWith(`version ${r.version} `) ? `v${r.version} ${phrase}` : phrase;
      if (!reasons.includes(text)) reasons.push(text);
    }
    return { verifier, label, verdict: reasons.length > 0 ? ('refuses' as const) : ('accepts' as const), reasons };
  });
}

function report(next: Root, results: RuleResult[]): VerifyReport {
  return { ok: results.every((r) => r.status !== 'fail'), dialect: next.dialect, results, matrix: verdictMatrix(next.dialect, results) };
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
    ...(next.dialect === 'foundries' ? [expiresFormatRule(next)] : []),
    ...structuralRules(next, opts),
    ...signatureRules(trusted, next, opts),
  ]);
}

/** A trust anchor (usually version 1): the structural rules and its own threshold, no version rule. */
export function verifySelfSigned(root: Root, opts: VerifyOptions): VerifyReport {
  return report(root, [
    typeRule(undefined, root),
    expiryRule(root, opts.now, opts.checkExpiry ?? true),
    ...(root.dialect === 'foundries' ? [expiresFormatRule(root)] : []),
    ...structuralRules(root, opts),
    ...signatureRules(undefined, root, opts),
  ]);
}

/** When a step fails on its expiry alone: every rule but the expiry passed. */
function expiredOnly(step: VerifyReport): boolean {
  const failing = step.results.filter((r) => r.status === 'fail');
  return failing.length > 0 && failing.every((r) => r.rule === 'expiry');
}

/**
 * Walks `chain` from `trusted` like a client far behind: each root against the last accepted one,
 * expiry of the final root only (TUF spec 5.3.10; libaktualizr does the same). Stops at the first
 * root that fails; `warnings` gathers every 'warn' result of the steps taken. When the chain is
 * empty, the trusted root is the final one and its expiry is what is checked. `expired` is set when
 * every version verifies but the final root has expired as of `now`.
 */
export function verifyChain(trusted: Root, chain: Root[], opts: { now: Date; factory?: boolean }): ChainReport {
  const steps: VerifyReport[] = [];
  const warnings: RuleResult[] = [];
  const all: RuleResult[] = [];
  const multi = chain.length > 1;
  const done = (r: Omit<ChainReport, 'matrix' | 'warnings' | 'steps' | 'dialect'>): ChainReport => ({
    ...r,
    dialect: trusted.dialect,
    steps,
    warnings,
    matrix: verdictMatrix(trusted.dialect, all, multi),
  });
  let current = trusted;
  for (const [i, next] of chain.entries()) {
    const step = verifyRootUpdate(current, next, { now: opts.now, checkExpiry: i === chain.length - 1, factory: opts.factory ?? false });
    steps.push(step);
    all.push(...step.results);
    for (const r of step.results) if (r.status === 'warn') warnings.push(r);
    if (!step.ok) {
      const expired = i === chain.length - 1 && expiredOnly(step) ? { version: next.version, expires: next.expires } : undefined;
      return done({ ok: false, finalVersion: current.version, failedAt: next.version, expired });
    }
    current = next;
  }
  if (chain.length === 0) {
    const r = expiryRule(trusted, opts.now, true);
    if (r.status === 'fail') {
      all.push(r);
      return done({ ok: false, finalVersion: trusted.version, failedAt: trusted.version, expired: { version: trusted.version, expires: trusted.expires } });
    }
  }
  return done({ ok: true, finalVersion: current.version, failedAt: undefined, expired: undefined });
}

/**
 * A warning when `root` expires within `days` of `now` (or already has), else undefined. Shown
 * beside the current root; the `expiry` rule is what refuses an expired root.
 */
export function expiryWarning(root: Root, now: Date, days = 30): RuleResult | undefined {
  const left = root.expiresAt.getTime() - now.getTime();
  if (left > days * DAY_MS) return undefined;
  const v = root.version;
  const who = everyone(root.dialect);
  if (left <= 0) return result('expiry', 'warn', `Version ${v} expired at ${root.expires}.`, v, who, `version ${v} expired on ${day(root.expiresAt)}`);
  const d = Math.floor(left / DAY_MS);
  const when = d === 0 ? 'in less than a day' : `in ${plural(d, 'day')}`;
  return result('expiry', 'warn', `Version ${v} expires at ${root.expires}, ${when}; rotate or re-sign it before then.`, v, who, `version ${v} expires ${when}`);
}
