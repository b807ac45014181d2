/**
 * The rules every client of both dialects holds (type, version, expiry, complete roles, known key
 * IDs, reachable thresholds, unique signatures) and tuf-rotate's own distinct-keys rule.
 */
import { REQUIRED_ROLES } from '../metadata.js';
import type { Root, RootKey, RootRole, RuleResult, RuleSource } from '../model.js';
import { day, everyone, has, list, plural, q, result } from './common.js';
import { FOUNDRIES_MAX_THRESHOLD } from './foundries-rules.js';
import { decodeKey, identityOf } from './keys.js';

export function typeRule(trusted: Root | undefined, next: Root): RuleResult {
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

export function versionRule(trusted: Root, next: Root): RuleResult {
  const want = trusted.version + 1;
  const v = next.version;
  const who = everyone(next.dialect);
  // TUF spec 5.3.5 / libaktualizr: the version must be exactly N+1 (no skips, no repeats).
  if (v !== want) {
    return result('version', 'fail', `Version ${v} does not follow the trusted version ${trusted.version}; it must be exactly ${want}.`, v, who, `version ${v}, needs ${want}`);
  }
  return result('version', 'pass', `Version ${v} follows the trusted version ${trusted.version}.`, v, who);
}

export function expiryRule(next: Root, now: Date, check: boolean): RuleResult {
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

export function rolesCompleteRule(next: Root): RuleResult {
  const who = everyone(next.dialect);
  const missing = REQUIRED_ROLES.filter((r) => has(next.roles, r) === undefined);
  if (missing.length > 0) {
    return result('roles-complete', 'fail', `Roles missing: ${missing.join(', ')}; a root defines root, targets, snapshot and timestamp.`, next.version, who, `role ${missing.join(', ')} missing`);
  }
  return result('roles-complete', 'pass', 'The root, targets, snapshot and timestamp roles are all defined.', next.version, who);
}

export function roleKeysPresentRule(next: Root): RuleResult {
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

export function thresholdsReachableRule(next: Root): RuleResult {
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
export function distinctKeysRule(next: Root): RuleResult {
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

export function signaturesUniqueRule(next: Root): RuleResult {
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
