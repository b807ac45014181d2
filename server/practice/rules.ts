/**
 * The practice factory's PUT rules beyond the root's own validity (validate.ts): what the server
 * staged must stay, and what fioctl's own uploads always satisfy (foundries-operations.md §6.3,
 * rules 14 and 17–21). Each error line starts with the rule number, so a refusal names its rule.
 */
import { isDeepStrictEqual } from 'node:util';
import { isJsonObject } from '../tuf/json.js';
import type { JsonObject } from '../tuf/json.js';
import { keyIdFoundries, publicKeyOf } from '../tuf/public-key.js';
import type { Root } from '../tuf/model.js';
import type { OnlineKeyIds } from './state.js';

const ED25519_HEX = /^[0-9a-f]{64}$/;
const STAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const OWNER_WINDOW_MS = 5 * 60 * 1000;

export interface RuleContext {
  /** The Factory's current CI root (what a new key is "new" against). */
  current: Root;
  /** `x-changelog` the server staged at init (absent for transactions from older state files). */
  changelog: JsonObject | undefined;
  online: OnlineKeyIds;
  /** `signed` of the root staged before this PUT (owner entries another admin staged are kept as they are). */
  previous: JsonObject | undefined;
  /** polis-id of the user making the PUT. */
  caller: string;
  now: Date;
  /** §6.3 rule 21: new x-key-owners entries must name the caller (a strict-mode switch, on by default). */
  ownerMustBeCaller: boolean;
}

/** Rules 14, 17–21 for one staged root (`what` = ci-root / prod-root). */
export function checkStagingRules(root: Root, what: string, ctx: RuleContext): string[] {
  const errors: string[] = [];
  const signed = root.signedJson;
  // 14: x-changelog unchanged
  if (ctx.changelog !== undefined && !isDeepStrictEqual(signed['x-changelog'], ctx.changelog)) {
    errors.push(`rule 14: ${what}: x-changelog must stay as the server staged it at init`);
  }
  // 17: thresholds
  const t = (role: string): number | undefined => root.roles[role]?.threshold;
  if (what === 'ci-root' && t('targets') !== 1) errors.push(`rule 17: ci-root: roles.targets.threshold must be 1, not ${t('targets') ?? '-'}`);
  for (const role of ['snapshot', 'timestamp']) {
    if (t(role) !== 1) errors.push(`rule 17: ${what}: roles.${role}.threshold must stay 1`);
  }
  if ((t('root') ?? 0) < 1) errors.push(`rule 17: ${what}: roles.root.threshold must be at least 1`);
  // 18: online keys only change through gen-online-keys
  for (const role of ['snapshot', 'timestamp'] as const) {
    const ids = root.roles[role]?.keyids ?? [];
    if (ids.length !== 1 || ids[0] !== ctx.online[role]) {
      errors.push(`rule 18: ${what}: roles.${role}.keyids must be exactly the online ${role} key ${ctx.online[role].slice(0, 8)} (online keys change only through gen-online-keys)`);
    }
  }
  if (!(root.roles['targets']?.keyids ?? []).includes(ctx.online.targets)) {
    errors.push(`rule 18: ${what}: roles.targets.keyids must keep the online targets key ${ctx.online.targets.slice(0, 8)}`);
  }
  // 19, 20: key objects, new key IDs, one public key under one ID
  const seen = new Map<string, string>();
  for (const [id, key] of Object.entries(root.keys)) {
    const pub = key.public;
    if (key.keytype === 'ED25519' && (typeof pub !== 'string' || !ED25519_HEX.test(pub))) {
      errors.push(`rule 19: ${what}: ED25519 key ${id.slice(0, 8)} must be 64 lower-case hex digits`);
    }
    if (key.keytype === 'RSA' && (typeof pub !== 'string' || !pub.startsWith('-----BEGIN PUBLIC KEY-----'))) {
      errors.push(`rule 19: ${what}: RSA key ${id.slice(0, 8)} must be an SPKI PEM public key`);
    }
    let spkiHex: string;
    try {
      const info = publicKeyOf(key);
      spkiHex = Buffer.from(info.spki).toString('hex');
      if (ctx.current.keys[id] === undefined && keyIdFoundries(info) !== id) {
        errors.push(`rule 20: ${what}: new key ${id.slice(0, 8)} must have the key ID sha256(SPKI DER) = ${keyIdFoundries(info).slice(0, 8)}`);
      }
    } catch {
      continue; // validate.ts reports unreadable keys
    }
    const other = seen.get(spkiHex);
    if (other !== undefined) errors.push(`rule 20: ${what}: one public key is listed under two key IDs (${other.slice(0, 8)}, ${id.slice(0, 8)})`);
    seen.set(spkiHex, id);
  }
  // 21: x-key-owners of remaining keys preserved; new entries name the caller, now
  const oldOwners = isJsonObject(ctx.current.signedJson['x-key-owners']) ? ctx.current.signedJson['x-key-owners'] : {};
  const owners = isJsonObject(signed['x-key-owners']) ? signed['x-key-owners'] : {};
  for (const [id, o] of Object.entries(oldOwners)) {
    if (root.keys[id] !== undefined && !isDeepStrictEqual(owners[id], o)) {
      errors.push(`rule 21: ${what}: the x-key-owners entry of key ${id.slice(0, 8)} must stay unchanged while the key remains`);
    }
  }
  const prevOwners = isJsonObject(ctx.previous?.['x-key-owners']) ? ctx.previous['x-key-owners'] : {};
  for (const [id, o] of Object.entries(owners)) {
    if (id in oldOwners || !isJsonObject(o) || isDeepStrictEqual(prevOwners[id], o)) continue;
    const at = o['created-at'];
    if (typeof at !== 'string' || !STAMP.test(at) || Math.abs(Date.parse(at) - ctx.now.getTime()) > OWNER_WINDOW_MS) {
      errors.push(`rule 21: ${what}: x-key-owners.${id.slice(0, 8)}.created-at must be now (UTC, whole seconds, Z)`);
    }
    if (ctx.ownerMustBeCaller && o['polis-id'] !== ctx.caller) {
      errors.push(`rule 21: ${what}: the new key ${id.slice(0, 8)} must be owned by the user uploading it (polis-id ${ctx.caller})`);
    }
  }
  return errors;
}
