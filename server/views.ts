/**
 * What the API shows of the core's objects: public facts only (key IDs, types, sizes, versions,
 * verification results). Pure projections; the reply schemas in shared/api.ts drop anything else.
 */
import type { ArchiveReply, PlanResult, RootHistory, RootKeysHeld, RootSummary, SignResult } from '../shared/api.js';
import type { KeyArchive } from './archive/read.js';
import { summarizeArchive } from './archive/read.js';
import type { PreparedRotation, SignedRotation } from './ceremony.js';
import { heldKeysForRole } from './keyring.js';
import type { KeyRing } from './keyring.js';
import { canonicalBytes } from './tuf/canonical-json.js';
import { diffRoots, EXPIRES_SOON_DAYS, shortKeyId } from './tuf/diff.js';
import { publicKeyOf } from './tuf/public-key.js';
import type { Root } from './tuf/model.js';
import { ownerName, type UserDirectory } from './tuf/owner-names.js';
import { sha256Hex } from './util/fs-atomic.js';

const DAY_MS = 86_400_000;

function keyFacts(root: Root, keyid: string): { keytype: string; algorithm?: 'ed25519' | 'rsa' | 'ecdsa'; bits?: number } {
  const key = root.keys[keyid];
  if (!key) return { keytype: '' };
  try {
    const pub = publicKeyOf(key);
    return { keytype: key.keytype, algorithm: pub.algorithm, bits: pub.bits };
  } catch {
    return { keytype: key.keytype };
  }
}

export function rootSummary(root: Root, ring: KeyRing | undefined, now: Date, users?: UserDirectory): RootSummary {
  const remaining = root.expiresAt.getTime() - now.getTime();
  const expired = remaining <= 0;
  const expiresInDays = Math.floor(remaining / DAY_MS);
  const out: RootSummary = {
    dialect: root.dialect,
    type: root.type,
    version: root.version,
    expires: root.expires,
    expired,
    expiresInDays,
    roles: Object.entries(root.roles).map(([name, role]) => {
      const held = ring ? heldKeysForRole(ring, root, name) : new Map<string, unknown>();
      return {
        name,
        threshold: role.threshold,
        keys: role.keyids.map((keyid) => ({ keyid, short: shortKeyId(keyid), ...keyFacts(root, keyid), held: held.has(keyid) })),
      };
    }),
    keyOwners: Object.entries(root.keyOwners ?? {}).map(([keyid, o]) => {
      const named = o.polisId !== undefined ? ownerName(o.polisId, users) : undefined;
      return {
        keyid,
        short: shortKeyId(keyid),
        ...(o.polisId !== undefined ? { polisId: o.polisId } : {}),
        ...(o.createdAt !== undefined ? { createdAt: o.createdAt } : {}),
        ...(named?.name !== undefined ? { name: named.name } : {}),
        ...(named !== undefined ? { label: named.label } : {}),
      };
    }),
  };
  if (expired) {
    out.expiryWarning = `Version ${root.version} expired on ${root.expires}: clients refuse it until a new root is published.`;
  } else if (remaining < EXPIRES_SOON_DAYS * DAY_MS) {
    out.expiryWarning = `Version ${root.version} expires on ${root.expires}, in ${expiresInDays} day${expiresInDays === 1 ? '' : 's'}.`;
  }
  if (root.specVersion !== undefined) out.specVersion = root.specVersion;
  if (root.consistentSnapshot !== undefined) out.consistentSnapshot = root.consistentSnapshot;
  if (root.changelog !== undefined) out.changelog = root.changelog;
  return out;
}

export function historyView(roots: Root[], now: Date): RootHistory {
  return {
    versions: roots.map((r) => ({
      version: r.version,
      expires: r.expires,
      expired: r.expiresAt.getTime() <= now.getTime(),
      rootKeyIds: r.roles['root']?.keyids ?? [],
      rootThreshold: r.roles['root']?.threshold ?? 0,
    })),
  };
}

export function rootKeysHeld(ring: KeyRing, root: Root): RootKeysHeld {
  const held = heldKeysForRole(ring, root);
  const role = root.roles['root'];
  return {
    threshold: role?.threshold ?? 0,
    held: [...held].map(([keyid, h]) => ({ keyid, short: shortKeyId(keyid), label: h.label })),
    missing: (role?.keyids ?? []).filter((id) => !held.has(id)).map((keyid) => ({ keyid, short: shortKeyId(keyid) })),
  };
}

export function archiveView(archive: KeyArchive, ring: KeyRing, root: Root | undefined, lent?: readonly KeyArchive[]): ArchiveReply {
  return { archive: summarizeArchive(archive), ...(lent && lent.length > 0 ? { lent: lent.map((a) => summarizeArchive(a)) } : {}), ...(root ? { rootKeys: rootKeysHeld(ring, root) } : {}) };
}

/** A plan's single-owner warnings name polis-ids; the diff's (same roots, with the Factory's users) name the owners. */
export function namedOwnerWarnings<W extends { code: string }>(planWarnings: W[], diff: { warnings: W[] }, users: UserDirectory | undefined): W[] {
  if (!users) return planWarnings;
  return [...planWarnings.filter((w) => w.code !== 'SINGLE_HOLDER'), ...diff.warnings.filter((w) => w.code === 'SINGLE_HOLDER')];
}

export function planView(prep: PreparedRotation, ring: KeyRing, users?: UserDirectory): PlanResult {
  const p = prep.plan;
  const diff = diffRoots(prep.current, p.newSigned, { now: prep.now, heldKeyIds: [...heldKeysForRole(ring, prep.current).keys()], ...(users ? { users } : {}) });
  const warnings = namedOwnerWarnings(p.warnings, diff, users);
  return {
    plan: {
      dialect: p.dialect,
      currentVersion: prep.current.version,
      newVersion: diff.version.to,
      newKeyId: p.newKeyId,
      newKeyShort: shortKeyId(p.newKeyId),
      algorithm: p.newKey.algorithm,
      bits: p.newKey.bits,
      replacedKeyId: p.replacedKeyId,
      removedKeyIds: p.removedKeyIds,
      signers: p.signers.map((s) => ({ keyid: s.keyid, role: s.role })),
      expires: diff.expires.to,
      warnings,
      ...(prep.newToken
        ? { newKeyToken: { uri: prep.newToken.signer.uri, label: prep.newToken.signer.token.label, ...(prep.newToken.noBackupAck !== undefined ? { noBackupAck: prep.newToken.noBackupAck } : {}) } }
        : {}),
    },
    diff,
  };
}

/** SHA-256 of the canonical signed bytes: what the signatures cover. */
export function signedSha256(root: Root): string {
  return sha256Hex(canonicalBytes(root.dialect, root.signedJson));
}

export function signView(signed: SignedRotation): SignResult {
  return { version: signed.root.version, sha256: signedSha256(signed.root), verify: signed.report };
}
