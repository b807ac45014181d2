/**
 * The practice factory's transaction documents: the staged roots an init starts from, online keys
 * replaced by E14, staged targets/waves signatures merged by E11, and the E9 status answer.
 */
import { cloneJson, isJsonObject } from '../tuf/json.js';
import type { JsonObject } from '../tuf/json.js';
import type { RootDocument } from '../tuf/model.js';
import type { PracticeState, Transaction } from './state.js';

/** Replaces a role's online key ID in a staged root's `signed` (E14); drops the old key if unused. */
export function replaceKey(signed: JsonObject, role: string, oldId: string, newId: string, keyJson: JsonObject): void {
  const keys = signed['keys'];
  const roles = signed['roles'];
  if (!isJsonObject(keys) || !isJsonObject(roles)) return;
  keys[newId] = keyJson;
  const r = roles[role];
  if (isJsonObject(r) && Array.isArray(r['keyids'])) r['keyids'] = r['keyids'].map((k) => (k === oldId ? newId : k));
  const stillUsed = Object.values(roles).some((x) => isJsonObject(x) && Array.isArray(x['keyids']) && x['keyids'].includes(oldId));
  if (!stillUsed) delete keys[oldId];
}

/** Rule 12: staged targets/waves signatures are merged per (name, keyid); omitted maps keep earlier ones. */
export function mergeSignatures(tx: Transaction, maps: Partial<Record<'targets-signatures' | 'waves-signatures', JsonObject>>): Pick<Transaction, 'targetsSignatures' | 'wavesSignatures'> {
  const merge = (old: Record<string, JsonObject[]> | undefined, add: JsonObject | undefined): Record<string, JsonObject[]> | undefined => {
    if (add === undefined) return old;
    const out: Record<string, JsonObject[]> = { ...(old ?? {}) };
    for (const [name, list] of Object.entries(add)) {
      const sigs = (Array.isArray(list) ? list : []).filter(isJsonObject);
      const ids = new Set(sigs.map((x) => x['keyid']));
      out[name] = [...(out[name] ?? []).filter((x) => !ids.has(x['keyid'])), ...sigs];
    }
    return out;
  };
  const out: Pick<Transaction, 'targetsSignatures' | 'wavesSignatures'> = {};
  const t = merge(tx.targetsSignatures, maps['targets-signatures']);
  const w = merge(tx.wavesSignatures, maps['waves-signatures']);
  if (t !== undefined) out.targetsSignatures = t;
  if (w !== undefined) out.wavesSignatures = w;
  return out;
}

/** The server's part of a new version: version + 1 and the changelog of the init request. */
export function stagedSigned(current: JsonObject, changelog: JsonObject): JsonObject {
  const signed = cloneJson(current);
  const v = signed['version'];
  signed['version'] = typeof v === 'number' ? v + 1 : 1;
  signed['x-changelog'] = changelog;
  return signed;
}

/** The staged CI root with the production targets threshold (at least 2, kept if already higher). */
export function stagedProd(ciSigned: JsonObject, currentProd: JsonObject): JsonObject {
  const signed = cloneJson(ciSigned);
  const roles = signed['roles'];
  const prodRoles = currentProd['roles'];
  const prodTargets = isJsonObject(prodRoles) ? prodRoles['targets'] : undefined;
  const current = isJsonObject(prodTargets) && typeof prodTargets['threshold'] === 'number' ? prodTargets['threshold'] : 1;
  const targets = isJsonObject(roles) ? roles['targets'] : undefined;
  if (isJsonObject(targets)) {
    const keys = Array.isArray(targets['keyids']) ? targets['keyids'].length : 2;
    targets['threshold'] = Math.min(Math.max(2, current), Math.max(keys, 2));
  }
  return signed;
}

export function updatesJson(state: PracticeState, now: Date): JsonObject {
  const tx = state.transaction;
  const online: JsonObject = { ...state.config.onlineKeys };
  const compact = (doc: RootDocument | undefined): string => (doc === undefined ? '' : JSON.stringify(doc));
  const warnings: JsonObject[] = [];
  const ci = state.rootDocument('ci');
  const expires = typeof ci.signed['expires'] === 'string' ? Date.parse(ci.signed['expires']) : NaN;
  if (Number.isFinite(expires) && expires - now.getTime() < 30 * 24 * 3600 * 1000) {
    warnings.push({
      kind: 'root-expiring',
      message: expires <= now.getTime() ? 'The TUF root has expired' : 'The TUF root expires within 30 days',
      args: { expires: String(ci.signed['expires']) },
    });
  }
  if (tx !== undefined) {
    // §6.3 rule 22: a staged expiry more than 366 days ahead is allowed, with a warning (docs conflict).
    const staged = Date.parse(String(tx.ciRoot.signed['expires']));
    if (Number.isFinite(staged) && staged - now.getTime() > 366 * 24 * 3600 * 1000) {
      warnings.push({ kind: 'root-expires-late', message: 'The staged TUF root expires more than a year from now', args: { expires: String(tx.ciRoot.signed['expires']) } });
    }
  }
  const errors: JsonObject[] = [];
  if (tx !== undefined && !tx.signed) {
    errors.push({ kind: 'not-signed', message: 'The updated TUF roots are not signed by enough root keys', args: {} });
    for (const r of tx.unsignedReasons ?? []) errors.push({ kind: 'not-signed', message: r, args: {} });
  }
  const out: JsonObject = {
    status: state.status,
    'first-time': tx?.firstTime ?? false,
    current: { 'ci-root': compact(ci), 'prod-root': compact(state.rootDocument('prod')), 'online-keys': online },
    amendments: [],
    issues: { errors, warnings },
  };
  if (tx !== undefined) {
    out['updated'] = { 'ci-root': compact(tx.ciRoot), 'prod-root': compact(tx.prodRoot), 'online-keys': { ...(tx.onlineKeys ?? state.config.onlineKeys) } };
    out['change-meta'] = {
      'created-by': tx.createdBy,
      'created-at': tx.createdAt,
      'updated-by': tx.updatedBy,
      'updated-at': tx.updatedAt,
    };
  }
  return out;
}
