/**
 * The two practice-factory endpoints outside the TUF root updates API that foundries-operations.md
 * §6.5 rules 32 and 34 constrain: a CI target upload and a wave creation. foundries-api.md gives no
 * path for either; the practice factory uses fioctl's nearest calls (stand-in choice, see
 * docs/practice-factory.md):
 *
 *   POST /ota/factories/F/targets/   `{"targets": {NAME: {custom?, hashes, length}}, "targets-creator"?}`
 *        (fioctl `targets add` → `TargetsPost`); 201. Stands in for Foundries CI's upload.
 *   POST /ota/factories/F/waves/     `{"name", "version", "tag", "targets": {"signatures", "signed"}}`
 *        (fioctl `waves init` → `FactoryCreateWave`); 201. The server adds its online targets key's
 *        signature, so a new wave meets the production targets threshold (online + offline).
 *
 * Pure checks here (no fs, no HTTP); factory-server.ts registers the routes.
 */
import { canonicalBytes } from '../tuf/canonical-json.js';
import { isJsonObject } from '../tuf/json.js';
import type { JsonObject } from '../tuf/json.js';
import type { Root } from '../tuf/model.js';
import type { OnlineKeyIds, Transaction } from './state.js';
import { validTargetsSigners } from './targets.js';

const HEX64 = /^[0-9a-f]{64}$/;
const WAVE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const STAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** True while the open transaction rotates an online key (E14 was called in it). */
export function rotatesOnlineKeys(tx: Transaction | undefined, current: OnlineKeyIds): boolean {
  const staged = tx?.onlineKeys;
  if (staged === undefined) return false;
  return staged.targets !== current.targets || staged.snapshot !== current.snapshot || staged.timestamp !== current.timestamp;
}

/** Rule 34: refusal lines for a CI target upload now (empty = allowed). */
export function ciUploadBlocked(tx: Transaction | undefined, current: OnlineKeyIds): string[] {
  if (tx?.status !== 'APPLYING' || !rotatesOnlineKeys(tx, current)) return [];
  return ['rule 34: an online key rotation is being applied; CI target uploads are disabled until the apply has finished'];
}

/** Rule 34: refusal lines for a wave creation now (empty = allowed). */
export function waveCreationBlocked(tx: Transaction | undefined, current: OnlineKeyIds): string[] {
  if (tx === undefined) return [];
  return [
    rotatesOnlineKeys(tx, current)
      ? 'rule 34: a wave cannot be created until the online key rotation of the open TUF root updates is applied'
      : `rule 34: a wave cannot be created while a TUF root updates transaction is open (status ${tx.status})`,
  ];
}

/** The body of a CI target upload: errors, or the targets to store. */
export function checkCiTargetsUpload(body: JsonObject): { errors: string[]; targets: Record<string, JsonObject> } {
  const errors: string[] = [];
  const targets: Record<string, JsonObject> = {};
  for (const k of Object.keys(body)) if (k !== 'targets' && k !== 'targets-creator') errors.push(`unknown field "${k}"`);
  if (body['targets-creator'] !== undefined && typeof body['targets-creator'] !== 'string') errors.push('"targets-creator" must be a string');
  const t = body['targets'];
  if (!isJsonObject(t) || Object.keys(t).length === 0) {
    errors.push('"targets" must be an object with at least one target');
    return { errors, targets };
  }
  for (const [name, v] of Object.entries(t)) {
    const where = `targets.${name}`;
    if (!isJsonObject(v)) {
      errors.push(`${where} must be an object`);
      continue;
    }
    for (const k of Object.keys(v)) if (!['custom', 'hashes', 'length'].includes(k)) errors.push(`${where}: unknown field "${k}"`);
    const hashes = v['hashes'];
    if (!isJsonObject(hashes) || typeof hashes['sha256'] !== 'string' || !HEX64.test(hashes['sha256'])) errors.push(`${where}.hashes.sha256 must be 64 lower-case hex digits`);
    const length = v['length'];
    if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) errors.push(`${where}.length must be a non-negative integer`);
    if (v['custom'] !== undefined && !isJsonObject(v['custom'])) errors.push(`${where}.custom must be an object`);
    targets[name] = v;
  }
  return { errors, targets };
}

/**
 * The body of a wave creation, checked against the Factory's current CI root: the wave's targets
 * `signed` in canonical form (rule 37, so E16 serves what was signed), each signature by an
 * offline key of the current targets role and valid over it (as `fioctl waves init` signs).
 */
export function checkWaveCreate(
  body: JsonObject,
  current: Root,
  onlineTargetsId: string,
  existing: Record<string, JsonObject>,
): { errors: string[]; name: string; signed: JsonObject | undefined; signatures: JsonObject[] } {
  const errors: string[] = [];
  for (const k of Object.keys(body)) if (!['name', 'version', 'tag', 'targets'].includes(k)) errors.push(`unknown field "${k}"`);
  const name = typeof body['name'] === 'string' ? body['name'] : '';
  if (!WAVE_NAME.test(name)) errors.push('"name" must be letters, digits, ".", "_", "-" (at most 63)');
  else if (existing[name] !== undefined) errors.push(`wave "${name}" exists already`);
  if (typeof body['version'] !== 'string' || !/^[0-9]{1,9}$/.test(body['version'])) errors.push('"version" must be a target version number as a string');
  if (typeof body['tag'] !== 'string' || !WAVE_NAME.test(body['tag'])) errors.push('"tag" must be a tag name');
  const t = body['targets'];
  const signed = isJsonObject(t) && isJsonObject(t['signed']) ? t['signed'] : undefined;
  const sigs = isJsonObject(t) && Array.isArray(t['signatures']) ? t['signatures'] : undefined;
  if (signed === undefined || sigs === undefined) {
    errors.push('"targets" must be {"signatures": [...], "signed": {...}}');
    return { errors, name, signed: undefined, signatures: [] };
  }
  if (signed['_type'] !== 'Targets') errors.push('targets.signed._type must be "Targets"');
  if (typeof signed['expires'] !== 'string' || !STAMP.test(signed['expires'])) errors.push('targets.signed.expires must be YYYY-MM-DDTHH:MM:SSZ');
  if (!isJsonObject(signed['targets'])) errors.push('targets.signed.targets must be an object');
  let canonical: boolean;
  try {
    canonical = Buffer.from(canonicalBytes('foundries', signed)).toString('utf8') === JSON.stringify(signed);
  } catch {
    canonical = false;
  }
  if (!canonical) errors.push('rule 37: targets.signed must be in canonical form (sorted keys, printable ASCII)');
  const signatures = sigs.filter(isJsonObject);
  if (signatures.length === 0) errors.push('targets.signatures must hold a signature by an offline targets key');
  for (const [i, s] of signatures.entries()) {
    const keyid = typeof s['keyid'] === 'string' ? s['keyid'] : '';
    if (keyid === onlineTargetsId) errors.push(`targets.signatures[${i}]: the online targets key signs on the server's side; sign with an offline targets key`);
    else if (!(current.roles['targets']?.keyids ?? []).includes(keyid)) errors.push(`targets.signatures[${i}]: key ${keyid.slice(0, 8)} is not an offline targets key of the current root`);
    else if (canonical && validTargetsSigners(current, signed, [s]).length !== 1) errors.push(`targets.signatures[${i}]: the signature by ${keyid.slice(0, 8)} does not verify`);
  }
  return { errors, name, signed, signatures };
}
