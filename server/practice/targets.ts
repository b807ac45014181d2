/**
 * Production tags' and waves' targets metadata in the practice factory (E15/E16), and the checks
 * on the signatures a PUT brings for them (foundries-operations.md §3.2.4, §6.3 rule 25, §6.5 rule 31).
 *
 * The practice factory stores `signed` already in fioctl's canonical form (sorted keys, compact,
 * printable ASCII, whole-second `Z` expiry, hex hashes; §6.6 rule 37), so the §3.2.4 bytes fioctl
 * signs, the raw bytes `fioctl waves sign` signs and the device form are one and the same:
 * `canonicalBytes('foundries', signed)`.
 */
import { createHash } from 'node:crypto';
import { canonicalBytes } from '../tuf/canonical-json.js';
import { isJsonObject } from '../tuf/json.js';
import type { JsonObject } from '../tuf/json.js';
import { publicKeyOf } from '../tuf/public-key.js';
import type { Root } from '../tuf/model.js';
import { decodeSignature, signRoot, verifySignatureFoundriesServer } from '../tuf/sign.js';
import type { Signer } from '../tuf/model.js';

/** A small targets `signed` with one target, as the practice factory serves it. */
export function practiceTargetsSigned(o: { name: string; version: number; expires: string; content: string }): JsonObject {
  const bytes = Buffer.from(o.content, 'utf8');
  return {
    _type: 'Targets',
    expires: o.expires,
    targets: {
      [`${o.name}-${o.version}`]: {
        custom: { hardwareIds: ['intel-corei7-64'], name: o.name, tags: ['main'], targetFormat: 'OSTREE', version: String(o.version) },
        hashes: { sha256: createHash('sha256').update(bytes).digest('hex') },
        length: bytes.length,
      },
    },
    version: o.version,
  };
}

/** Signs targets metadata with each signer (same bytes and signature shape as a root). */
export async function signTargets(signed: JsonObject, signers: { keyid: string; signer: Signer }[]): Promise<JsonObject> {
  return { signatures: await signRoot('foundries', signed, signers), signed };
}

/** Key IDs (of `role` in `root`) with a valid signature on `entry.signed` among `sigs`; each public key counts once. */
export function validTargetsSigners(root: Root, signed: JsonObject, sigs: readonly JsonObject[]): string[] {
  const role = root.roles['targets'];
  if (role === undefined) return [];
  const data = canonicalBytes('foundries', signed);
  const out: string[] = [];
  const seen: Buffer[] = [];
  for (const s of sigs) {
    const keyid = s['keyid'];
    if (typeof keyid !== 'string' || !role.keyids.includes(keyid)) continue;
    const key = root.keys[keyid];
    if (key === undefined) continue;
    const raw = decodeSignature('foundries', { keyid, method: String(s['method'] ?? ''), sig: String(s['sig'] ?? ''), json: s });
    if (raw === undefined) continue;
    try {
      const pub = publicKeyOf(key);
      if (seen.some((b) => b.equals(Buffer.from(pub.spki)))) continue;
      if (verifySignatureFoundriesServer(pub, data, raw)) {
        seen.push(Buffer.from(pub.spki));
        out.push(keyid);
      }
    } catch {
      // an unreadable key signs nothing
    }
  }
  return out;
}

/**
 * Checks staged signatures for tags or waves (PUT `targets-signatures` / `waves-signatures`): the
 * names must exist, every signature must be by an offline key of the staged targets role and verify
 * over the entry's `signed`. Returns error lines (empty = accepted).
 */
export function checkStagedTargetsSignatures(
  field: 'targets-signatures' | 'waves-signatures',
  value: JsonObject,
  entries: Record<string, JsonObject>,
  staged: Root,
  onlineTargetsId: string,
): string[] {
  const errors: string[] = [];
  const what = field === 'targets-signatures' ? 'production tag' : 'active wave';
  const role = staged.roles['targets'];
  for (const [name, list] of Object.entries(value)) {
    const entry = entries[name];
    if (entry === undefined || !isJsonObject(entry['signed'])) {
      errors.push(`${field}: there is no ${what} "${name}"`);
      continue;
    }
    if (!Array.isArray(list) || list.length === 0) {
      errors.push(`${field}.${name} must be a non-empty list of signatures`);
      continue;
    }
    for (const [i, s] of list.entries()) {
      const where = `${field}.${name}[${i}]`;
      if (!isJsonObject(s)) {
        errors.push(`${where} is not a signature object`);
        continue;
      }
      const keyid = s['keyid'];
      if (typeof keyid !== 'string' || role === undefined || !role.keyids.includes(keyid)) {
        errors.push(`${where}: key ${String(keyid).slice(0, 8)} is not in the staged targets role`);
        continue;
      }
      if (keyid === onlineTargetsId) {
        errors.push(`${where}: the online targets key cannot sign production targets here (use an offline targets key)`);
        continue;
      }
      if (validTargetsSigners(staged, entry['signed'], [s]).length !== 1) {
        errors.push(`${where}: the signature by ${keyid.slice(0, 8)} does not verify over the ${what}'s targets metadata`);
      }
    }
  }
  return errors;
}
