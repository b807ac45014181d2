/**
 * The signature rules of one step: the old and new root thresholds over the device's byte form,
 * and for Foundries roots the API's RSA-PSS salt rule and whether fioctl's byte form agrees.
 */
import { isAppError } from '../../errors.js';
import { canonicalBytes, canonicalFioctl } from '../canonical-json.js';
import type { Root, RuleResult, RuleSource } from '../model.js';
import { rsaPssSaltLength } from '../pss-salt.js';
import { decodeSignature } from '../sign.js';
import type { VerifyOptions } from './common.js';
import { apiOnly, everyone, has, list, plural, result, short } from './common.js';
import { FOUNDRIES_PSS_SALT } from './foundries-rules.js';
import { decodeKey, SignatureSet } from './keys.js';

/** threshold-old / threshold-new: enough distinct keys of `role` signed the new root. */
export function thresholdRule(
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
export function rsaPssSaltRule(trusted: Root | undefined, next: Root, bytes: Uint8Array, opts: VerifyOptions): RuleResult | undefined {
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
export function fioctlFormRule(trusted: Root | undefined, next: Root, deviceBytes: Uint8Array, deviceOk: boolean): RuleResult {
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

export function signatureRules(trusted: Root | undefined, next: Root, opts: VerifyOptions): RuleResult[] {
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
