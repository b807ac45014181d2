/**
 * What the practice factory checks before it stages a root from `PUT …/root/updates`: the rules the
 * Foundries API applies (ota-tuf `RootRoleValidation` and the Foundries additions listed in
 * foundries-api.md §2.3 and §2.7) plus the device's update rules (verify.ts), so a root the practice
 * factory accepts is one the real server and the fleet would accept too.
 *
 * The server's own signature check is stricter than the device's: RSA-PSS with salt length 32 only.
 */
import { isDeepStrictEqual } from 'node:util';
import { isAppError } from '../errors.js';
import { canonicalBytes, isPrintableAscii } from '../tuf/canonical-json.js';
import { isJsonObject } from '../tuf/json.js';
import type { Json, JsonObject } from '../tuf/json.js';
import { publicKeyOf } from '../tuf/public-key.js';
import { foundriesSignedFields, parseRoot, REQUIRED_ROLES } from '../tuf/metadata.js';
import type { PublicKeyInfo, Root, RootKey, RootRole, RuleId } from '../tuf/model.js';
import { decodeSignature, verifySignatureFoundriesServer } from '../tuf/sign.js';
import { verifyRootUpdate } from '../tuf/verify.js';

/** `expires` exactly as ota-tuf writes and the server requires it. */
const EXPIRES_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const ROLE_NAMES: readonly string[] = REQUIRED_ROLES;
const METHODS: Record<string, string> = { ED25519: 'ed25519', RSA: 'rsassa-pss-sha256' };
const RSA_BITS = new Set([2048, 3072, 4096]);
/** Device rules (verify.ts) that the server's own checks here also enforce. */
const SERVER_COVERED = new Set<RuleId>([
  'parse',
  'type',
  'version',
  'expiry',
  'roles-complete',
  'role-keys-present',
  'thresholds-reachable',
  'signatures-unique',
  'signature-methods',
  'key-types',
  'canonical-ascii',
  'threshold-old',
  'threshold-new',
]);

export interface StagedRootCheck {
  /** The parsed root when it was well-formed enough to parse. */
  root: Root | undefined;
  /** True when the document could not even be read as a root (400 rather than 422). */
  malformed: boolean;
  errors: string[];
  /**
   * Root thresholds not met yet (§6.5 rule 29). With `thresholds: false` these are not in `errors`:
   * a PUT may stage a partly signed root (§5 flows: holders sign one after the other).
   */
  thresholdErrors: string[];
}

function short(id: string): string {
  return id.slice(0, 8);
}

/** Every string in `signed` that is not printable ASCII, except an RSA PEM public key. */
function unprintable(v: Json, path: string, out: string[]): void {
  if (typeof v === 'string') {
    const pem = /\.keyval\.public$/.test(path) && v.startsWith('-----BEGIN PUBLIC KEY-----\n');
    if (!pem && !isPrintableAscii(v)) out.push(path);
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => unprintable(x, `${path}[${i}]`, out));
  } else if (isJsonObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (!isPrintableAscii(k)) out.push(`${path} (a member name)`);
      unprintable(x, `${path}.${k}`, out);
    }
  }
}

function onlyFields(o: JsonObject, allowed: readonly string[], where: string, errors: string[], rule = 15): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) errors.push(`rule ${rule}: ${where}: unknown field "${k}"`);
  }
}

/** The document's outer shape: exactly `signatures` and `signed`, signatures `{keyid, method, sig}`. */
function checkShape(doc: JsonObject, what: string, errors: string[]): void {
  onlyFields(doc, ['signatures', 'signed'], what, errors, 11);
  const sigs = doc['signatures'];
  if (!Array.isArray(sigs)) return;
  const seen = new Set<string>();
  sigs.forEach((s, i) => {
    const where = `${what}.signatures[${i}]`;
    if (!isJsonObject(s)) {
      errors.push(`rule 23: ${where} is not an object`);
      return;
    }
    onlyFields(s, ['keyid', 'method', 'sig'], where, errors, 23);
    for (const f of ['keyid', 'method', 'sig']) {
      if (typeof s[f] !== 'string') errors.push(`rule 23: ${where}.${f} must be a string`);
    }
    const id = s['keyid'];
    if (typeof id === 'string') {
      if (seen.has(id)) errors.push(`rule 23: ${what}: key ${short(id)} signed twice`);
      seen.add(id);
    }
  });
}

/** ota-tuf's re-encode check: `signed` must come back unchanged through the server's decoder. */
function checkReencode(signed: JsonObject, what: string, errors: string[]): void {
  const model = foundriesSignedFields(signed);
  if (isDeepStrictEqual(model, signed)) return;
  for (const k of Object.keys(signed)) {
    if (!(k in model)) errors.push(`rule 15: ${what}.signed: unknown field "${k}" (an incompatible encoder was used)`);
  }
  if (!('consistent_snapshot' in signed)) errors.push(`rule 15: ${what}.signed: "consistent_snapshot" is missing`);
  for (const [id, k] of Object.entries(isJsonObject(signed['keys']) ? signed['keys'] : {})) {
    if (!isJsonObject(k)) continue;
    onlyFields(k, ['keytype', 'keyval'], `${what}.signed.keys.${short(id)}`, errors);
    if (isJsonObject(k['keyval'])) onlyFields(k['keyval'], ['public'], `${what}.signed.keys.${short(id)}.keyval`, errors);
  }
  for (const [name, r] of Object.entries(isJsonObject(signed['roles']) ? signed['roles'] : {})) {
    if (isJsonObject(r)) onlyFields(r, ['keyids', 'threshold'], `${what}.signed.roles.${name}`, errors);
  }
  const changelog = signed['x-changelog'];
  if (isJsonObject(changelog)) onlyFields(changelog, ['polis-id', 'message', 'timestamp'], `${what}.signed.x-changelog`, errors);
  const owners = signed['x-key-owners'];
  if (isJsonObject(owners)) {
    if (Object.keys(owners).length === 0) errors.push(`rule 15: ${what}.signed: "x-key-owners" is empty (omit it)`);
    for (const [id, o] of Object.entries(owners)) {
      if (isJsonObject(o)) onlyFields(o, ['polis-id', 'created-at'], `${what}.signed.x-key-owners.${short(id)}`, errors);
    }
  }
  if (errors.length === 0) errors.push(`rule 15: ${what}.signed does not survive the server's re-encoding unchanged`);
}

function checkKeysAndRoles(root: Root, what: string, errors: string[]): Map<string, PublicKeyInfo> {
  const pubs = new Map<string, PublicKeyInfo>();
  for (const [id, key] of Object.entries(root.keys)) {
    if (!(key.keytype in METHODS)) {
      errors.push(`rule 19: ${what}: key ${short(id)} has key type "${key.keytype}" (only RSA and ED25519)`);
      continue;
    }
    try {
      const pub = publicKeyOf(key);
      if (pub.algorithm === 'rsa' && !RSA_BITS.has(pub.bits)) errors.push(`rule 19: ${what}: RSA key ${short(id)} has ${pub.bits} bits`);
      pubs.set(id, pub);
    } catch (e) {
      errors.push(`rule 19: ${what}: key ${short(id)} cannot be read${isAppError(e) ? `: ${e.message}` : ''}`);
    }
  }
  for (const name of Object.keys(root.roles)) {
    if (!ROLE_NAMES.includes(name)) errors.push(`rule 15: ${what}: unknown role "${name}"`);
  }
  for (const name of ROLE_NAMES) {
    const role = root.roles[name];
    if (role === undefined) {
      errors.push(`rule 15: ${what}: role "${name}" is missing`);
      continue;
    }
    if (new Set(role.keyids).size !== role.keyids.length) errors.push(`rule 15: ${what}: role ${name} lists a key twice`);
    for (const id of role.keyids) {
      if (root.keys[id] === undefined) errors.push(`rule 19: ${what}: role ${name} names key ${short(id)}, which is not in keys`);
    }
    if (role.threshold < 1 || role.threshold > role.keyids.length) {
      errors.push(`rule 17: ${what}: role ${name} threshold ${role.threshold} is not between 1 and its ${role.keyids.length} keys`);
    }
  }
  for (const id of Object.keys(root.keyOwners ?? {})) {
    if (root.keys[id] === undefined) errors.push(`rule 21: ${what}: x-key-owners names key ${short(id)}, which is not in keys`);
  }
  return pubs;
}

/**
 * Distinct root-role keys of `authority` with a valid (salt-32) signature on `next`. One public
 * key listed under two key IDs counts once.
 */
function validSigners(authority: Root, next: Root, data: Uint8Array, role: RootRole): number {
  const counted: Uint8Array[] = [];
  for (const sig of next.signatures) {
    if (!role.keyids.includes(sig.keyid)) continue;
    const key: RootKey | undefined = authority.keys[sig.keyid];
    if (key === undefined) continue;
    const method = METHODS[key.keytype];
    if (method === undefined || sig.method !== method) continue;
    const raw = decodeSignature('foundries', sig);
    if (raw === undefined) continue;
    let pub: PublicKeyInfo;
    try {
      pub = publicKeyOf(key);
    } catch {
      continue;
    }
    if (counted.some((s) => Buffer.from(s).equals(pub.spki))) continue;
    if (verifySignatureFoundriesServer(pub, data, raw)) counted.push(pub.spki);
  }
  return counted.length;
}

/**
 * Checks one staged root (`ci-root` or `prod-root` of a PUT) against the current root of the same
 * history, as the Foundries API would, then with the device's rules.
 */
export function checkStagedRoot(current: Root, input: unknown, what: string, now: Date, opts: { thresholds?: boolean } = {}): StagedRootCheck {
  const errors: string[] = [];
  const thresholdErrors: string[] = [];
  const requireThresholds = opts.thresholds ?? true;
  if (!isJsonObject(input)) return { root: undefined, malformed: true, errors: [`rule 11: ${what} must be a signed root object`], thresholdErrors };
  checkShape(input, what, errors);
  let root: Root;
  try {
    root = parseRoot(input, what);
  } catch (e) {
    return { root: undefined, malformed: true, errors: [...errors, `rule 11: ${isAppError(e) ? e.message : `${what} is not a root`}`], thresholdErrors };
  }
  if (root.dialect !== 'foundries' || root.type !== 'Root') errors.push(`rule 15: ${what}: _type must be "Root"`);
  checkReencode(root.signedJson, what, errors);
  const bad: string[] = [];
  unprintable(root.signedJson, `${what}.signed`, bad);
  for (const p of bad) errors.push(`rule 15: ${p} holds characters outside printable ASCII`);
  if (root.version !== current.version + 1) {
    errors.push(`rule 13: ${what}: version ${root.version} must be exactly ${current.version + 1} (current is ${current.version})`);
  }
  if (!EXPIRES_RE.test(root.expires)) errors.push(`rule 22: ${what}: expires "${root.expires}" must be YYYY-MM-DDTHH:MM:SSZ`);
  else if (root.expiresAt.getTime() <= now.getTime()) errors.push(`rule 22: ${what}: expires ${root.expires} is in the past`);
  checkKeysAndRoles(root, what, errors);
  for (const s of root.signatures) {
    if (s.method !== 'ed25519' && s.method !== 'rsassa-pss-sha256') {
      errors.push(`rule 23: ${what}: signature by ${short(s.keyid)} has unknown method "${s.method ?? ''}"`);
    }
  }

  let data: Uint8Array | undefined;
  try {
    data = canonicalBytes('foundries', root.signedJson);
  } catch (e) {
    errors.push(`rule 15: ${what} has no canonical form${isAppError(e) ? `: ${e.message}` : ''}`);
  }
  if (data !== undefined) {
    // ota-tuf RootRoleValidation: the old root role's threshold with old keys, and the new one's with new keys.
    const oldRole = current.roles['root'];
    const newRole = root.roles['root'];
    if (oldRole !== undefined) {
      const n = validSigners(current, root, data, oldRole);
      if (n < oldRole.threshold) {
        thresholdErrors.push(`rule 29: ${what}: signed by ${n} of the current root keys, ${oldRole.threshold} needed (version ${current.version})`);
      }
    }
    if (newRole !== undefined) {
      const n = validSigners(root, root, data, newRole);
      if (n < newRole.threshold) thresholdErrors.push(`rule 29: ${what}: signed by ${n} of its own root keys, ${newRole.threshold} needed`);
    }
    // §6.3 rule 23: every signature present verifies (salt 32) with its key (of this root or the current one).
    for (const sig of root.signatures) {
      const key = root.keys[sig.keyid] ?? current.keys[sig.keyid];
      const raw = decodeSignature('foundries', sig);
      let ok = false;
      if (key !== undefined && raw !== undefined && sig.method === METHODS[key.keytype]) {
        try {
          ok = verifySignatureFoundriesServer(publicKeyOf(key), data, raw);
        } catch {
          ok = false;
        }
      }
      if (!ok) errors.push(`${what}: the signature by ${short(sig.keyid)} does not verify (rule 23)${key?.keytype === 'RSA' ? '; an RSA-PSS signature needs salt length 32 (rule 24)' : ''}`);
    }
  }
  if (requireThresholds) errors.push(...thresholdErrors);

  // The device's rules (the fleet must accept it too). Where the server's own checks above already
  // failed, only the device rules they do not cover are added, so one mistake is reported once.
  const serverFailed = errors.length > 0;
  const report = verifyRootUpdate(current, root, { now });
  for (const r of report.results) {
    if (r.status !== 'fail' || (serverFailed && SERVER_COVERED.has(r.rule))) continue;
    if (!requireThresholds && (r.rule === 'threshold-old' || r.rule === 'threshold-new')) continue;
    errors.push(`${what}: devices would refuse it (${r.rule}): ${r.message}`);
  }
  return { root, malformed: false, errors: dedupe(errors), thresholdErrors };
}

/** Production root = CI root except `roles.targets.threshold`, which must be at least 2. */
export function checkProdMatchesCi(ci: Root, prod: Root): string[] {
  const errors: string[] = [];
  const ciTargets = ci.roles['targets'];
  const prodTargets = prod.roles['targets'];
  if (ciTargets === undefined || prodTargets === undefined) return errors;
  if (prodTargets.threshold < 2) {
    errors.push(`rule 17: prod-root: roles.targets.threshold is ${prodTargets.threshold}; a production root needs at least 2`);
  }
  const aligned = structuredClone(prod.signedJson);
  const roles = aligned['roles'];
  const targets = isJsonObject(roles) ? roles['targets'] : undefined;
  if (isJsonObject(targets)) targets['threshold'] = ciTargets.threshold;
  if (!isDeepStrictEqual(aligned, ci.signedJson)) {
    const differing = Object.keys({ ...ci.signedJson, ...prod.signedJson }).filter(
      (k) => !isDeepStrictEqual(aligned[k], ci.signedJson[k]),
    );
    errors.push(`rule 16: prod-root differs from ci-root in more than roles.targets.threshold (${differing.join(', ')})`);
  }
  return errors;
}

function dedupe(list: string[]): string[] {
  return [...new Set(list)];
}
