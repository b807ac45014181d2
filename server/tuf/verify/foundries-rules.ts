/**
 * The rules of the Foundries dialect: what devices (libaktualizr) refuse (expires format, signature
 * methods, key types, size), what only the Foundries API refuses (key form, unknown fields), and
 * tuf-rotate's printable-ASCII rule; with the Foundries limits they check.
 */
import type { JsonObject } from '../json.js';
import { isJsonObject } from '../json.js';
import { childPath, nonAsciiStrings } from '../canonical-json.js';
import { REQUIRED_ROLES } from '../metadata.js';
import type { Root, RuleResult, RuleSource } from '../model.js';
import { publicKeyString } from '../public-key.js';
import type { VerifyOptions } from './common.js';
import { apiOnly, q, result, short } from './common.js';
import { decodeKey } from './keys.js';

/** Foundries: the server refuses a root file larger than this (docs/tuf-dialects.md, Fields). */
export const FOUNDRIES_MAX_ROOT_BYTES = 64 * 1024;
/** Foundries: ota-tuf's IllegalThreshold bound. */
export const FOUNDRIES_MAX_THRESHOLD = 1000;
/** The only signature methods a Foundries device accepts (compared after lowercasing, like notary). */
export const FOUNDRIES_METHODS = new Set(['ed25519', 'rsassa-pss-sha256']);
export const FOUNDRIES_KEYTYPES = new Set(['RSA', 'ED25519']);
/** The RSA modulus sizes the Foundries API takes (foundries-operations.md §6.3, 19). */
export const FOUNDRIES_RSA_BITS = new Set([2048, 3072, 4096]);
/** The Foundries API's RSA-PSS salt length (devices accept any). */
export const FOUNDRIES_PSS_SALT = 32;
/** libaktualizr parses `expires` only in exactly this form (20 characters, UTC, no fraction). */
export const DEVICE_EXPIRES = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
/** The fields of a Foundries root's `signed` that the API models (ota-tuf's re-encode rule). */
export const API_SIGNED_FIELDS = new Set(['_type', 'consistent_snapshot', 'expires', 'keys', 'roles', 'version', 'x-changelog', 'x-key-owners']);
export const API_CHANGELOG_FIELDS = new Set(['message', 'polis-id', 'timestamp']);
export const API_OWNER_FIELDS = new Set(['created-at', 'polis-id']);

/** Foundries: libaktualizr reads `expires` only as exactly YYYY-MM-DDTHH:MM:SSZ. */
export function expiresFormatRule(next: Root): RuleResult {
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

export function signatureMethodsRule(next: Root): RuleResult {
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
export function keyTypesRule(next: Root): RuleResult {
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
export function apiKeyFormRule(next: Root, opts: VerifyOptions): RuleResult {
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
export function apiFieldsRule(next: Root, opts: VerifyOptions): RuleResult {
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


const PEM_TEXT = /^[\x20-\x7e\n]*$/;

export function canonicalAsciiRule(next: Root): RuleResult {
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

export function sizeRule(next: Root): RuleResult {
  const who: RuleSource[] = ['device', 'foundries-api'];
  const doc: JsonObject = { signatures: next.signatures.map((s) => s.json), signed: next.signedJson };
  const bytes = Buffer.byteLength(JSON.stringify(doc), 'utf8');
  const measure = `${bytes} bytes as compact JSON (the file as written may be larger)`;
  if (bytes > FOUNDRIES_MAX_ROOT_BYTES) {
    return result('size', 'fail', `The document is ${measure}; the Foundries limit is ${FOUNDRIES_MAX_ROOT_BYTES} bytes (64 KiB).`, next.version, who, `${bytes} bytes, over 64 KiB`);
  }
  return result('size', 'pass', `The document is ${measure}, within the 64 KiB limit.`, next.version, who);
}
