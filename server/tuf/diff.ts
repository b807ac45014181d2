/**
 * What a root change does, in words and lines: the structured summary and line diff of product.md
 * journey step 6, and the warnings shown beside it (and beside a rotation plan, rotate.ts). Pure.
 */
import { childPath } from './canonical-json.js';
import { isJsonObject, type Json, type JsonObject } from './json.js';
import { publicKeyOf, samePublicKey } from './public-key.js';
import { parseRoot, REQUIRED_ROLES } from './metadata.js';
import type { Changelog, Dialect, KeyAlgorithm, KeyOwner, PublicKeyInfo, Root } from './model.js';
import { ownerName, type UserDirectory } from './owner-names.js';
import { diffLines, type DiffLine } from '../../shared/line-diff.js';

export type WarningCode =
  | 'LOCKOUT' // the operator's keys cannot meet the new root threshold
  | 'SINGLE_HOLDER' // every key of a role belongs to one person
  | 'EXPIRES_SOON' // the new root expires within 30 days
  | 'EXPIRED' // the new root is already expired
  | 'RSA_PRESENT' // a Foundries root holds an RSA key
  | 'NO_CHANGE' // nothing but the version changed
  | 'THRESHOLD_UNREACHABLE'; // a role has fewer distinct keys than its threshold

export type WarningSeverity = 'danger' | 'warning' | 'info';

/** One warning about a root change. Messages name key IDs only, never key material. */
export interface DiffWarning {
  code: WarningCode;
  severity: WarningSeverity;
  message: string;
}

/** A rotation plan's warnings are the diff warnings of the current root against the planned one. */
export type PlanWarning = DiffWarning;

export interface KeySummary {
  keyid: string;
  /** The first 8 characters of the key ID, as the UI shows it. */
  short: string;
  /** undefined when the key cannot be decoded (unknown type, bad encoding). */
  algorithm: KeyAlgorithm | undefined;
  bits: number | undefined;
  /** `keytype` as written. */
  keytype: string;
}

export interface RoleChange {
  name: string;
  /** `from` undefined: the role is new; `to` undefined: the role was removed. */
  threshold: { from?: number; to?: number };
  keyidsAdded: string[];
  keyidsRemoved: string[];
  keyidsKept: string[];
}

/** An owner entry, with how the owner is shown ("Name (polis-id 1a2b3c4d)", owner-names.ts). */
export type NamedKeyOwner = KeyOwner & { label?: string };

export interface OwnerChange {
  keyid: string;
  from?: NamedKeyOwner;
  to?: NamedKeyOwner;
}

export interface FieldChange {
  /** Path inside `signed`, e.g. `roles.timestamp.x-tuf-on-ci-signing-period`. */
  path: string;
  from?: Json;
  to?: Json;
}

export interface RootDiff {
  dialect: Dialect;
  version: { from: number; to: number };
  /** `expires` as written on each side. */
  expires: { from: string; to: string };
  keysAdded: KeySummary[];
  keysRemoved: KeySummary[];
  /** Every role of either root, unchanged ones included. */
  roles: RoleChange[];
  /** Present when either root has an `x-changelog`. */
  changelog?: { from?: Changelog & { label?: string }; to?: Changelog & { label?: string } };
  /** Key owners (`x-key-owners`) added, removed or changed. */
  owners: OwnerChange[];
  /** Every other difference in `signed` (unknown fields, changed key objects, …). */
  otherFields: FieldChange[];
  /** Line diff of both `signed` objects, pretty-printed with sorted keys. */
  lines: DiffLine[];
  warnings: DiffWarning[];
}

export interface DiffContext {
  /** Root-role key IDs of the old root whose private keys the operator holds; no LOCKOUT check without it. */
  heldKeyIds?: string[];
  now: Date;
  /** Key ID → owner name, for keys that `x-key-owners` does not name. */
  holders?: Record<string, string>;
  /** The Factory's users, to show owners by name (owner-names.ts); without it, by polis-id. */
  users?: UserDirectory;
}

/** Warn when a new root expires within this many days. */
export const EXPIRES_SOON_DAYS = 30;
const DAY_MS = 86_400_000;

function isRoot(v: Root | JsonObject): v is Root {
  const r = v as Partial<Root>;
  return typeof r.dialect === 'string' && isJsonObject(r.signedJson as Json | undefined);
}

export function shortKeyId(keyid: string): string {
  return keyid.slice(0, 8);
}

/** Public keys of a root by key ID, decoded once; undefined for keys we cannot decode. */
class KeyTable {
  readonly #cache = new Map<string, PublicKeyInfo | undefined>();
  constructor(readonly root: Root) {}

  pub(keyid: string): PublicKeyInfo | undefined {
    if (this.#cache.has(keyid)) return this.#cache.get(keyid);
    const key = this.root.keys[keyid];
    let pub: PublicKeyInfo | undefined;
    if (key !== undefined) {
      try {
        pub = publicKeyOf(key);
      } catch {
        pub = undefined;
      }
    }
    this.#cache.set(keyid, pub);
    return pub;
  }

  summary(keyid: string): KeySummary {
    const pub = this.pub(keyid);
    return {
      keyid,
      short: shortKeyId(keyid),
      algorithm: pub?.algorithm,
      bits: pub?.bits,
      keytype: this.root.keys[keyid]?.keytype ?? '',
    };
  }

  /**
   * How many distinct keys among `keyids` (present in `keys`) there are: one public key under two
   * IDs counts once (tuf-dialects.md, distinct keys). Undecodable keys count by ID.
   */
  distinct(keyids: readonly string[]): number {
    const pubs: PublicKeyInfo[] = [];
    const ids = new Set<string>();
    let count = 0;
    for (const id of keyids) {
      if (this.root.keys[id] === undefined || ids.has(id)) continue;
      ids.add(id);
      const pub = this.pub(id);
      if (pub !== undefined) {
        if (pubs.some((p) => samePublicKey(p, pub))) continue;
        pubs.push(pub);
      }
      count++;
    }
    return count;
  }
}

// ---------------------------------------------------------------------------------------------
// Structured summary

function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (isJsonObject(a)) {
    if (!isJsonObject(b)) return false;
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/** Member names of both objects: those of `a` in order, then those only in `b`. */
function unionKeys(a: JsonObject, b: JsonObject): string[] {
  return [...Object.keys(a), ...Object.keys(b).filter((k) => !Object.hasOwn(a, k))];
}

/** Every difference between two JSON values, by path; objects are compared member by member. */
function fieldChanges(a: Json | undefined, b: Json | undefined, path: string, out: FieldChange[], skip?: (name: string) => boolean): void {
  if (isJsonObject(a) && isJsonObject(b)) {
    for (const k of unionKeys(a, b)) {
      if (skip?.(k) === true) continue;
      fieldChanges(a[k], b[k], childPath(path, k), out);
    }
    return;
  }
  if (jsonEqual(a, b)) return;
  const change: FieldChange = { path: path === '' ? '$' : path };
  if (a !== undefined) change.from = a;
  if (b !== undefined) change.to = b;
  out.push(change);
}

/** Differences the structured summary does not already cover (keys, roles, version, expiry, x-*). */
function otherFieldChanges(old: JsonObject, next: JsonObject): FieldChange[] {
  const out: FieldChange[] = [];
  const covered = new Set(['version', 'expires', 'keys', 'roles', 'x-changelog', 'x-key-owners']);
  fieldChanges(old, next, '', out, (k) => covered.has(k));

  // Keys present in both roots whose objects changed (a scheme, an extra field, the key itself).
  const ok = isJsonObject(old.keys) ? old.keys : {};
  const nk = isJsonObject(next.keys) ? next.keys : {};
  for (const id of Object.keys(ok)) {
    if (Object.hasOwn(nk, id)) fieldChanges(ok[id], nk[id], childPath('keys', id), out);
  }
  // Roles in both: anything other than keyids and threshold.
  const or = isJsonObject(old.roles) ? old.roles : {};
  const nr = isJsonObject(next.roles) ? next.roles : {};
  for (const name of Object.keys(or)) {
    if (!Object.hasOwn(nr, name)) continue;
    fieldChanges(or[name], nr[name], childPath('roles', name), out, (k) => k === 'keyids' || k === 'threshold');
  }
  return out;
}

function roleOrder(a: Root, b: Root): string[] {
  const names = new Set<string>([...REQUIRED_ROLES, ...Object.keys(a.roles), ...Object.keys(b.roles)]);
  return [...names].filter((n) => a.roles[n] !== undefined || b.roles[n] !== undefined);
}

function roleChanges(old: Root, next: Root): RoleChange[] {
  return roleOrder(old, next).map((name) => {
    const from = old.roles[name];
    const to = next.roles[name];
    const oldIds = from?.keyids ?? [];
    const newIds = to?.keyids ?? [];
    const threshold: RoleChange['threshold'] = {};
    if (from !== undefined) threshold.from = from.threshold;
    if (to !== undefined) threshold.to = to.threshold;
    return {
      name,
      threshold,
      keyidsAdded: newIds.filter((id) => !oldIds.includes(id)),
      keyidsRemoved: oldIds.filter((id) => !newIds.includes(id)),
      keyidsKept: newIds.filter((id) => oldIds.includes(id)),
    };
  });
}

function named(o: KeyOwner, users: UserDirectory | undefined): NamedKeyOwner {
  return o.polisId === undefined ? { ...o } : { ...o, label: ownerName(o.polisId, users).label };
}

function ownerChanges(old: Root, next: Root, users: UserDirectory | undefined): OwnerChange[] {
  const a = old.keyOwners ?? {};
  const b = next.keyOwners ?? {};
  const out: OwnerChange[] = [];
  for (const id of [...Object.keys(a), ...Object.keys(b).filter((k) => !Object.hasOwn(a, k))]) {
    const from = a[id];
    const to = b[id];
    if (from !== undefined && to !== undefined && from.polisId === to.polisId && from.createdAt === to.createdAt) continue;
    const change: OwnerChange = { keyid: id };
    if (from !== undefined) change.from = named(from, users);
    if (to !== undefined) change.to = named(to, users);
    out.push(change);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Warnings

function listIds(ids: readonly string[]): string {
  return ids.map(shortKeyId).join(', ');
}

function rootWarnings(old: Root, next: Root, table: KeyTable, oldTable: KeyTable, keysAdded: readonly string[], ctx: DiffContext): DiffWarning[] {
  const warnings: DiffWarning[] = [];
  const rootRole = next.roles.root;

  // Lockout: after this change, can the operator still sign the next root (TUF spec 5.3.4: the
  // threshold of this root's own root role)? They hold their old keys plus every key added here.
  if (ctx.heldKeyIds !== undefined && rootRole !== undefined) {
    const heldPubs: PublicKeyInfo[] = [];
    const heldIds = new Set<string>([...ctx.heldKeyIds, ...keysAdded]);
    for (const id of heldIds) {
      const pub = oldTable.pub(id) ?? table.pub(id);
      if (pub !== undefined) heldPubs.push(pub);
    }
    const usable = rootRole.keyids.filter((id) => {
      if (heldIds.has(id)) return true;
      const pub = table.pub(id);
      return pub !== undefined && heldPubs.some((p) => samePublicKey(p, pub));
    });
    const have = table.distinct(usable);
    if (have < rootRole.threshold) {
      warnings.push({
        code: 'LOCKOUT',
        severity: 'danger',
        message:
          `Version ${next.version} needs ${rootRole.threshold} root key signature${rootRole.threshold === 1 ? '' : 's'}, ` +
          `but you will hold only ${have} of its root keys: nobody could sign version ${next.version + 1}.`,
      });
    }
  }

  for (const [name, role] of Object.entries(next.roles)) {
    const distinct = table.distinct(role.keyids);
    if (role.threshold < 1 || distinct < role.threshold) {
      warnings.push({
        code: 'THRESHOLD_UNREACHABLE',
        severity: 'danger',
        message:
          role.threshold < 1
            ? `The ${name} role has threshold ${role.threshold}; a threshold must be at least 1.`
            : `The ${name} role needs ${role.threshold} signatures but lists only ${distinct} distinct key${distinct === 1 ? '' : 's'} present in keys.`,
      });
    }
  }

  for (const [name, role] of Object.entries(next.roles)) {
    const ids = role.keyids.filter((id) => next.keys[id] !== undefined);
    if (ids.length === 0) continue;
    const owners = ids.map((id) => next.keyOwners?.[id]?.polisId ?? ctx.holders?.[id]);
    const known = owners.filter((o): o is string => o !== undefined);
    const first = known[0];
    if (first !== undefined && known.length === owners.length && known.every((o) => o === first)) {
      // An x-key-owners polis-id is shown by the user's name where the Factory's users are known.
      const viaOwners = ids.some((id) => next.keyOwners?.[id]?.polisId === first);
      const who = viaOwners ? ownerName(first, ctx.users).label : first;
      warnings.push({
        code: 'SINGLE_HOLDER',
        severity: 'warning',
        message:
          `Every ${name} key (${listIds(ids)}) belongs to ${who}: only that person can meet the ${name} ` +
          `threshold, and if their keys are lost nobody can. Consider adding a key held by someone else.`,
      });
    }
  }

  const remaining = next.expiresAt.getTime() - ctx.now.getTime();
  if (remaining <= 0) {
    warnings.push({
      code: 'EXPIRED',
      severity: 'danger',
      message: `Version ${next.version} expires ${next.expires}, which is already past: clients would refuse it.`,
    });
  } else if (remaining < EXPIRES_SOON_DAYS * DAY_MS) {
    const days = Math.floor(remaining / DAY_MS);
    warnings.push({
      code: 'EXPIRES_SOON',
      severity: 'warning',
      message: `Version ${next.version} expires ${next.expires}, in ${days === 0 ? 'less than a day' : `${days} day${days === 1 ? '' : 's'}`}.`,
    });
  }

  if (next.dialect === 'foundries') {
    const rsa = Object.entries(next.keys)
      .filter(([id, k]) => k.algorithm === 'rsa' || table.pub(id)?.algorithm === 'rsa')
      .map(([id]) => id);
    if (rsa.length > 0) {
      // fioctl's canonical form (Foundries' docker/go fork) escapes the PEM newlines as devices do, so
      // RSA roots are signed over the same bytes by all (foundries-operations.md §1 C1): a note only.
      warnings.push({
        code: 'RSA_PRESENT',
        severity: 'info',
        message:
          `This root holds RSA key${rsa.length === 1 ? '' : 's'} ${listIds(rsa)}. Devices, fioctl and the Foundries API sign ` +
          `the same bytes for them; Ed25519 keys are smaller and faster, and what fioctl generates today.`,
      });
    }
  }

  const { version: _ov, ...oldRest } = old.signedJson;
  const { version: _nv, ...nextRest } = next.signedJson;
  if (jsonEqual(oldRest, nextRest)) {
    warnings.push({
      code: 'NO_CHANGE',
      severity: 'info',
      message: `Version ${next.version} changes nothing but the version number.`,
    });
  }
  return warnings;
}

// ---------------------------------------------------------------------------------------------
// The diff

/** JSON with object members sorted, so both sides print in the same order. */
function sortedJson(v: Json): Json {
  if (Array.isArray(v)) return v.map(sortedJson);
  if (isJsonObject(v)) {
    const out: JsonObject = {};
    for (const k of Object.keys(v).sort()) out[k] = sortedJson(v[k] as Json);
    return out;
  }
  return v;
}

/** `signed` as the line diff shows it: sorted keys, 2-space indent. */
export function prettySigned(signed: JsonObject): string[] {
  return JSON.stringify(sortedJson(signed), null, 2).split('\n');
}

/**
 * Compares a root with the next one: `next` is a parsed root or the `signed` object of a planned
 * one (validated with parseRoot). Nothing is verified here (verify.ts does that); the warnings say
 * what a careful reviewer would point out.
 */
export function diffRoots(old: Root, next: Root | JsonObject, ctx: DiffContext): RootDiff {
  const nextRoot = isRoot(next) ? next : parseRoot({ signatures: [], signed: next }, 'the new root');
  const oldTable = new KeyTable(old);
  const table = new KeyTable(nextRoot);

  const addedIds = Object.keys(nextRoot.keys).filter((id) => old.keys[id] === undefined);
  const removedIds = Object.keys(old.keys).filter((id) => nextRoot.keys[id] === undefined);

  const diff: RootDiff = {
    dialect: nextRoot.dialect,
    version: { from: old.version, to: nextRoot.version },
    expires: { from: old.expires, to: nextRoot.expires },
    keysAdded: addedIds.map((id) => table.summary(id)),
    keysRemoved: removedIds.map((id) => oldTable.summary(id)),
    roles: roleChanges(old, nextRoot),
    owners: ownerChanges(old, nextRoot, ctx.users),
    otherFields: otherFieldChanges(old.signedJson, nextRoot.signedJson),
    lines: diffLines(prettySigned(old.signedJson), prettySigned(nextRoot.signedJson)),
    warnings: rootWarnings(old, nextRoot, table, oldTable, addedIds, ctx),
  };
  if (old.changelog !== undefined || nextRoot.changelog !== undefined) {
    const changelog: NonNullable<RootDiff['changelog']> = {};
    // The author's polis-id by name too, as the owners (label).
    const by = (c: Changelog): Changelog & { label?: string } => (c.polisId === undefined ? { ...c } : { ...c, label: ownerName(c.polisId, ctx.users).label });
    if (old.changelog !== undefined) changelog.from = by(old.changelog);
    if (nextRoot.changelog !== undefined) changelog.to = by(nextRoot.changelog);
    diff.changelog = changelog;
  }
  return diff;
}

