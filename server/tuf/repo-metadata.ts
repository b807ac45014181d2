/**
 * Standard repositories: re-signing targets.json, snapshot.json and timestamp.json after a change
 * of their roles (TUF specification §4.4–§4.6; what tuf-js checks). Pure: texts and signers in,
 * the files to write (in publishing order) out. Every needed key is checked before anything is signed.
 */
import { AppError } from '../errors.js';
import { shortKeyId } from './diff.js';
import { cloneJson, isJsonObject, type JsonObject } from './json.js';
import { fileDigestHex } from './public-key.js';
import { formatExpires } from './metadata.js';
import type { Signer } from './model.js';
import type { OnlineRole } from './changes.js';
import { signRoot } from './sign.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** A re-signed document whose expiry is closer than this gets a fresh one (now + RENEW_DAYS). */
const MIN_VALIDITY_MS = DAY_MS;
const RENEW_DAYS = 7;

export interface RepoDocs {
  targets: string;
  snapshot: string;
  timestamp: string;
}

export interface MetadataFile {
  role: OnlineRole;
  /** File name inside metadata/ (`3.targets.json`, `targets.json`, `timestamp.json`). */
  name: string;
  text: string;
  version: number;
}

function parseDoc(text: string, role: OnlineRole): JsonObject {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new AppError('REPO_INVALID', `${role}.json is not valid JSON`, 'Repair the repository metadata before changing keys.');
  }
  if (!isJsonObject(doc) || !isJsonObject(doc.signed) || typeof doc.signed.version !== 'number') {
    throw new AppError('REPO_INVALID', `${role}.json has no signed.version`, 'Repair the repository metadata before changing keys.');
  }
  return doc.signed;
}

function roleKeys(root: JsonObject, role: OnlineRole): { keyids: string[]; threshold: number } {
  const r = isJsonObject(root.roles) ? root.roles[role] : undefined;
  if (!isJsonObject(r) || !Array.isArray(r.keyids)) return { keyids: [], threshold: 1 };
  return { keyids: r.keyids.filter((x): x is string => typeof x === 'string'), threshold: typeof r.threshold === 'number' ? r.threshold : 1 };
}

function serialize(doc: JsonObject): string {
  return JSON.stringify(doc, null, 2) + '\n';
}

function metaEntry(old: unknown, version: number, text: string): JsonObject {
  const entry: JsonObject = { version };
  if (isJsonObject(old) && typeof old.length === 'number') entry.length = Buffer.byteLength(text);
  if (isJsonObject(old) && isJsonObject(old.hashes)) {
    const hashes: JsonObject = {};
    for (const alg of Object.keys(old.hashes)) {
      if (alg === 'sha256' || alg === 'sha512') hashes[alg] = fileDigestHex(alg, text);
    }
    entry.hashes = hashes;
  }
  return entry;
}

/**
 * The signers for each role to re-sign: `threshold` of the new role's keys, from `signers`.
 * Refuses (CHANGE_REFUSED) naming every missing key before anything is signed.
 */
export function signersFor(newRoot: JsonObject, roles: readonly OnlineRole[], signers: ReadonlyMap<string, Signer>): Map<OnlineRole, { keyid: string; signer: Signer }[]> {
  const out = new Map<OnlineRole, { keyid: string; signer: Signer }[]>();
  const problems: string[] = [];
  for (const role of roles) {
    const { keyids, threshold } = roleKeys(newRoot, role);
    const have = keyids.filter((id) => signers.has(id)).slice(0, threshold);
    if (have.length < threshold) {
      problems.push(`${role}.json needs ${threshold} signature${threshold === 1 ? '' : 's'} from ${keyids.map(shortKeyId).join(', ')} and the keys given make ${have.length}`);
    }
    out.set(role, have.map((keyid) => ({ keyid, signer: signers.get(keyid) as Signer })));
  }
  if (problems.length > 0) {
    throw new AppError(
      'CHANGE_REFUSED',
      `the repository's metadata cannot be re-signed: ${problems.join('; ')}`,
      'Nothing was written. Add the missing keys to --keys (for the practice repository: its online-keys folder), then run again.',
    );
  }
  return out;
}

/**
 * New versions of the roles listed (targets → snapshot → timestamp), signed with the new role keys.
 * Snapshot lists the new targets version, timestamp the new snapshot version (with length and
 * hashes recomputed where the old entries had them). Expiry is kept unless it is within a day.
 */
export async function resignRepoMetadata(input: {
  newRoot: JsonObject;
  current: RepoDocs;
  roles: readonly OnlineRole[];
  signers: ReadonlyMap<string, Signer>;
  now: Date;
}): Promise<MetadataFile[]> {
  const chosen = signersFor(input.newRoot, input.roles, input.signers);
  const consistent = input.newRoot.consistent_snapshot === true;
  const files: MetadataFile[] = [];
  const renew = (signed: JsonObject): void => {
    const exp = typeof signed.expires === 'string' ? Date.parse(signed.expires) : NaN;
    if (!(exp > input.now.getTime() + MIN_VALIDITY_MS)) signed.expires = formatExpires(new Date(input.now.getTime() + RENEW_DAYS * DAY_MS));
  };
  const sign = async (role: OnlineRole, signed: JsonObject): Promise<string> =>
    serialize({ signatures: await signRoot('spec', signed, chosen.get(role) ?? []), signed });

  let targetsText: string | undefined;
  let targetsVersion = parseDoc(input.current.targets, 'targets').version as number;
  if (input.roles.includes('targets')) {
    const signed = cloneJson(parseDoc(input.current.targets, 'targets'));
    targetsVersion = (signed.version as number) + 1;
    signed.version = targetsVersion;
    renew(signed);
    targetsText = await sign('targets', signed);
    if (consistent) files.push({ role: 'targets', name: `${targetsVersion}.targets.json`, text: targetsText, version: targetsVersion });
    files.push({ role: 'targets', name: 'targets.json', text: targetsText, version: targetsVersion });
  }
  let snapshotText: string | undefined;
  let snapshotVersion = parseDoc(input.current.snapshot, 'snapshot').version as number;
  if (input.roles.includes('snapshot')) {
    const signed = cloneJson(parseDoc(input.current.snapshot, 'snapshot'));
    snapshotVersion = (signed.version as number) + 1;
    signed.version = snapshotVersion;
    renew(signed);
    const meta = isJsonObject(signed.meta) ? signed.meta : {};
    if (targetsText !== undefined) meta['targets.json'] = metaEntry(meta['targets.json'], targetsVersion, targetsText);
    signed.meta = meta;
    snapshotText = await sign('snapshot', signed);
    if (consistent) files.push({ role: 'snapshot', name: `${snapshotVersion}.snapshot.json`, text: snapshotText, version: snapshotVersion });
    files.push({ role: 'snapshot', name: 'snapshot.json', text: snapshotText, version: snapshotVersion });
  }
  if (input.roles.includes('timestamp')) {
    const signed = cloneJson(parseDoc(input.current.timestamp, 'timestamp'));
    const version = (signed.version as number) + 1;
    signed.version = version;
    renew(signed);
    const meta = isJsonObject(signed.meta) ? signed.meta : {};
    if (snapshotText !== undefined) meta['snapshot.json'] = metaEntry(meta['snapshot.json'], snapshotVersion, snapshotText);
    signed.meta = meta;
    files.push({ role: 'timestamp', name: 'timestamp.json', text: await sign('timestamp', signed), version });
  }
  return files;
}
