/**
 * Reads what a target serves, for the expiry report: a Factory's CI and production roots; a local
 * repository's root plus (for information) its timestamp, snapshot and targets metadata; any other
 * target's current root. The I/O half of expiry.ts.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Backend } from '../backends/backend.js';
import { FoundriesBackend } from '../backends/foundries.js';
import { LocalRepoBackend } from '../backends/local-repo.js';
import { AppError } from '../errors.js';
import { isJsonObject } from '../tuf/json.js';
import { tryParseExpires } from '../tuf/metadata.js';
import type { Root } from '../tuf/model.js';
import { readFileLimited } from '../util/fs-atomic.js';
import { rootInput } from './expiry.js';
import type { ExpiryInput, MetadataRole } from './expiry.js';

/** Largest top-level metadata file read for its expiry (a targets.json can list many files). */
const METADATA_LIMIT = 32 * 1024 * 1024;

export interface Gathered {
  inputs: ExpiryInput[];
  /** Things that could not be read (said, not fatal: the root is what matters). */
  notes: string[];
}

export async function gatherExpiry(backend: Backend): Promise<Gathered> {
  if (backend instanceof FoundriesBackend) {
    const ci = await backend.client.currentRoot(false);
    const inputs = [rootInput(ci, `CI root of ${backend.client.factory}`, 'ci')];
    const notes: string[] = [];
    try {
      const prod = await backend.client.currentRoot(true);
      inputs.push(rootInput(prod, `production root of ${backend.client.factory}`, 'prod'));
    } catch (e) {
      notes.push(`The production root could not be read (${e instanceof AppError ? e.message : 'error'}).`);
    }
    return { inputs, notes };
  }
  const root = await backend.currentRoot();
  if (backend instanceof LocalRepoBackend) {
    const source = path.join(backend.metadataDir, 'root.json');
    const other = await repoMetadata(backend.metadataDir, root);
    return { inputs: [rootInput(root, source), ...other.inputs], notes: other.notes };
  }
  return { inputs: [rootInput(root, backend.description)], notes: [] };
}

/** The newest file of a role: `ROLE.json`, else the highest `N.ROLE.json` (consistent snapshots). */
async function newestFile(dir: string, role: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return undefined;
  }
  if (names.includes(`${role}.json`)) return path.join(dir, `${role}.json`);
  const pattern = new RegExp(`^(\\d+)\\.${role}\\.json$`);
  let best: { n: number; name: string } | undefined;
  for (const name of names) {
    const m = pattern.exec(name);
    if (m && (!best || Number(m[1]) > best.n)) best = { n: Number(m[1]), name };
  }
  return best ? path.join(dir, best.name) : undefined;
}

/** Timestamp, snapshot and targets of a repository: version and expiry only (read, not verified). */
async function repoMetadata(dir: string, root: Root): Promise<Gathered> {
  const inputs: ExpiryInput[] = [];
  const notes: string[] = [];
  for (const role of ['timestamp', 'snapshot', 'targets'] as const satisfies readonly MetadataRole[]) {
    const file = await newestFile(dir, role);
    if (!file) {
      notes.push(`No ${role} metadata in ${dir}.`);
      continue;
    }
    try {
      const doc: unknown = JSON.parse((await readFileLimited(file, METADATA_LIMIT, `${role} metadata`)).toString('utf8'));
      const signed = isJsonObject(doc) ? doc['signed'] : undefined;
      const expires = isJsonObject(signed) ? signed['expires'] : undefined;
      const version = isJsonObject(signed) ? signed['version'] : undefined;
      const at = typeof expires === 'string' ? tryParseExpires(expires) : undefined;
      if (typeof expires !== 'string' || !at || typeof version !== 'number') {
        notes.push(`${file} has no readable version and expires.`);
        continue;
      }
      const r = root.roles[role];
      inputs.push({
        role,
        source: file,
        version,
        expires,
        expiresAt: at,
        ...(r ? { threshold: r.threshold, keyCount: r.keyids.length } : {}),
      });
    } catch (e) {
      notes.push(`${file} could not be read (${e instanceof AppError ? e.message : 'not JSON'}).`);
    }
  }
  return { inputs, notes };
}
