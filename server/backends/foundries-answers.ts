/**
 * Reading the Foundries API's answers: served roots, the Factory's state in words, and the TUF root
 * updates (E9) body.
 */
import { createHash } from 'node:crypto';
import { AppError } from '../errors.js';
import { canonicalBytes } from '../tuf/canonical-json.js';
import { isJsonObject } from '../tuf/json.js';
import type { Json, JsonObject } from '../tuf/json.js';
import { parseRoot } from '../tuf/metadata.js';
import type { Root } from '../tuf/model.js';
import type { FactoryState, OnlineKeyIds, ServedRoot, TufRootUpdates, UpdatesIssue, UpdatesRoots } from './foundries-types.js';

export const NO_CHANGES = 'No changes were made to your Factory.';

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function describeRoot(root: Root, bytesSha256: string): ServedRoot {
  let signedSha256 = '';
  try {
    signedSha256 = createHash('sha256').update(canonicalBytes(root.dialect, root.signedJson)).digest('hex');
  } catch {
    // a root without a canonical form: no digest (it cannot be ours)
  }
  return { version: root.version, sha256: bytesSha256, signedSha256, rootKeyIds: [...(root.roles['root']?.keyids ?? [])], signatures: root.signatures.length };
}

/** What a state means, in one or two sentences (NO_CHANGES only when it shows no change). */
export function describeState(st: FactoryState, baseVersion?: number): string {
  const same = st.ci.version === st.prod.version;
  const served = same ? `CI and production root version ${st.ci.version}` : `CI root version ${st.ci.version} and production root version ${st.prod.version}`;
  if (st.partial) {
    return `The Factory is partly updated: it serves ${served}, and the TUF root updates are ${st.status === 'APPLYING' ? 'being applied' : st.status}.`;
  }
  const staged = st.status === 'NONE' ? 'no TUF root updates are open' : `the TUF root updates (version ${st.staged?.ci.version ?? '?'}) are still ${st.status === 'STARTED' ? 'staged' : st.status}`;
  // Unchanged: the served roots are still those the transaction (or the caller) started from.
  const unchanged = baseVersion !== undefined
    ? st.ci.version === baseVersion
    : st.status === 'STARTED' && st.staged?.ci.version === st.ci.version + 1;
  return unchanged && st.status !== 'APPLYING'
    ? `${NO_CHANGES} It serves ${served}; ${staged}.`
    : `The Factory serves ${served}; ${staged}.`;
}


// ------------------------------------------------------------------------------------------------
// E9 parsing

export function parseUpdates(body: JsonObject, factory: string, bad: (m: string) => AppError): TufRootUpdates {
  const status = body['status'];
  if (status !== 'NONE' && status !== 'STARTED' && status !== 'APPLYING') throw bad(`unknown TUF root updates status ${JSON.stringify(status ?? null)}`);
  const current = parseRoots(body['current'], 'current', factory, bad);
  if (current === undefined) throw bad('current.ci-root is not set');
  const updated = parseRoots(body['updated'], 'updated', factory, bad);
  if (status !== 'NONE' && updated === undefined) throw bad(`status is ${status} but updated.ci-root is not set`);
  const meta = body['change-meta'];
  const issues = isJsonObject(body['issues']) ? body['issues'] : {};
  const out: TufRootUpdates = {
    status,
    firstTime: body['first-time'] === true,
    current,
    updated: status === 'NONE' ? undefined : updated,
    changeMeta: undefined,
    amendments: issueList(body['amendments']),
    issues: { errors: issueList(issues['errors']), warnings: issueList(issues['warnings']) },
  };
  if (isJsonObject(meta)) {
    const cm: NonNullable<TufRootUpdates['changeMeta']> = {};
    const pick = (k: string): string | undefined => (typeof meta[k] === 'string' ? meta[k] : undefined);
    const [cb, ca, ub, ua] = [pick('created-by'), pick('created-at'), pick('updated-by'), pick('updated-at')];
    if (cb !== undefined) cm.createdBy = cb;
    if (ca !== undefined) cm.createdAt = ca;
    if (ub !== undefined) cm.updatedBy = ub;
    if (ua !== undefined) cm.updatedAt = ua;
    out.changeMeta = cm;
  }
  return out;
}

function parseRoots(v: Json | undefined, where: string, factory: string, bad: (m: string) => AppError): UpdatesRoots | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isJsonObject(v)) throw bad(`${where} is not an object`);
  const ci = v['ci-root'];
  const prod = v['prod-root'];
  if (ci === undefined || ci === null || ci === '') return undefined;
  // The roots arrive as JSON strings inside the JSON (fioctl parses them a second time).
  if (typeof ci !== 'string') throw bad(`${where}.ci-root is not a string`);
  if (prod !== undefined && prod !== null && typeof prod !== 'string') throw bad(`${where}.prod-root is not a string`);
  const keys = isJsonObject(v['online-keys']) ? v['online-keys'] : {};
  const onlineKeys: OnlineKeyIds = {};
  for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
    const id = keys[role];
    if (typeof id === 'string' && id !== '') onlineKeys[role] = id;
  }
  const hasProd = typeof prod === 'string' && prod !== '';
  return {
    ciRoot: parseRoot(ci, `${where}.ci-root of ${factory}`),
    prodRoot: hasProd ? parseRoot(prod, `${where}.prod-root of ${factory}`) : undefined,
    onlineKeys,
    ciSha256: sha256(ci),
    prodSha256: hasProd ? sha256(prod) : undefined,
  };
}

function issueList(v: Json | undefined): UpdatesIssue[] {
  if (!Array.isArray(v)) return [];
  const out: UpdatesIssue[] = [];
  for (const x of v) {
    if (!isJsonObject(x)) continue;
    const args: Record<string, string> = {};
    if (isJsonObject(x['args'])) {
      for (const [k, a] of Object.entries(x['args'])) args[k] = typeof a === 'string' ? a : JSON.stringify(a);
    }
    out.push({
      kind: typeof x['kind'] === 'string' ? x['kind'] : '',
      message: typeof x['message'] === 'string' ? x['message'] : '',
      args,
    });
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Refusals that name a rule

/**
 * What to do about a refusal whose text names a foundries-operations.md §6 rule (`rule N:`, as the
 * practice factory writes them; the real API's texts are not public), or undefined for the generic
 * hint. The first rule named decides. Plain words only: the page shows these hints too.
 */
export function ruleHint(serverText: string): string | undefined {
  const n = /\brule (\d{1,2})\b/.exec(serverText)?.[1];
  switch (n) {
    case '1':
      return 'Only one TUF root updates transaction can be open at a time: finish or cancel the open one, then start again.';
    case '4':
      return 'The Factory accepted your token but not the transaction ID: ask the admin who started the TUF root updates for it.';
    case '17':
      return 'Keep every threshold between 1 and the number of keys of its role (production targets at least 2; CI targets, snapshot and timestamp exactly 1).';
    case '21':
      return 'A new key is recorded as its holder\'s: the admin who owns it adds it with their own API token.';
    case '22':
      return 'Give the new root an expiry in the future, written as YYYY-MM-DDTHH:MM:SSZ.';
    case '28':
      return 'The staged root has expired: rotate the root key first (it sets a new expiry), then rotate the online keys.';
    case '29':
    case '30':
      return 'Collect the missing signatures from the root key holders, then apply again; or cancel the staged TUF root updates.';
    case '31':
      return 'Every production tag must stay signed by enough targets keys: sign the tags with an offline targets key of the new root (a targets-key rotation does this), then apply again; or cancel the staged TUF root updates.';
    case '32':
      if (/online key rotation/.test(serverText)) return 'An active wave blocks the online key rotation: complete or cancel the wave first, then rotate the online keys.';
      if (/would have \d+ valid/.test(serverText)) {
        return 'An active wave must be signed with an offline targets key of the new root: sign it (a targets-key rotation does this when it holds the old targets key), then apply again; or cancel the staged TUF root updates.';
      }
      return 'An active wave blocks rotating or deleting the offline targets key on this Factory: complete or cancel the wave first, then make the change again.';
    case '34':
      return 'Wait until the TUF root updates are applied or canceled, then try again.';
    default:
      return undefined;
  }
}
