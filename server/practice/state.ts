/**
 * The practice factory's state folder: what a FoundriesFactory's TUF backend holds, kept as plain
 * files so a restarted practice factory carries on where it stopped.
 *
 * ```
 * DIR/factory.json            name, the owner's user (polis-id), online key IDs, first-time flag
 * DIR/OSF-TOKEN               the API token the practice factory accepts (0600)
 * DIR/ci/N.root.json          CI root history, 1..N contiguous
 * DIR/prod/N.root.json        production root history (may lag CI by one after a partial apply)
 * DIR/server-keys/*.sec|.pub  private keys "the server" holds (0600): online keys, the first root key
 * DIR/transaction.json        the open TUF root updates transaction, absent when status is NONE
 * DIR/offline-keys.tgz        the owner's key archive (not read by the server)
 * DIR/users/NAME.token        API tokens of further admins (0600; `practice-factory --users`)
 * DIR/prod-targets.json       production tags' targets metadata (E15), absent = none
 * DIR/waves.json              active waves' targets metadata (E16), absent = none
 * DIR/ci-targets.json         CI targets uploaded through the stand-in upload endpoint (ci-waves.ts)
 * ```
 *
 * Every write is atomic (temp file, fsync, rename, fsync of the folder): a crash leaves the old or
 * the new file, never half of one.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.js';
import { fsyncDir, writeFileAtomic as writeAtomic } from '../util/fs-atomic.js';
import { isJsonObject } from '../tuf/json.js';
import type { JsonObject } from '../tuf/json.js';
import type { RootDocument } from '../tuf/model.js';

export const FACTORY_FILE = 'factory.json';
export const TOKEN_FILE = 'OSF-TOKEN';
export const TRANSACTION_FILE = 'transaction.json';
export const ARCHIVE_FILE = 'offline-keys.tgz';
export const SERVER_KEYS_DIR = 'server-keys';

/** The two root histories a Factory keeps. */
export type RootKind = 'ci' | 'prod';

/** Status values of the TUF root updates API (foundries-api.md §2.7). */
export type UpdatesStatus = 'NONE' | 'STARTED' | 'APPLYING';

export interface OnlineKeyIds {
  targets: string;
  snapshot: string;
  timestamp: string;
}

/** `factory.json`. */
export interface FactoryConfig {
  format: 1;
  name: string;
  /** The owner's user ID, as `users/self/` reports it. */
  polisId: string;
  userName: string;
  role: string;
  /** True until init with `first-time` has handed the first root key to the owner. */
  firstTimePending: boolean;
  onlineKeys: OnlineKeyIds;
  createdAt: string;
  /** Further admins (each with `users/NAME.token`); the owner is the user above with OSF-TOKEN. */
  users: PracticeUser[];
}

/** An admin of the practice factory other than the owner. */
export interface PracticeUser {
  name: string;
  polisId: string;
  role: string;
}

export const USERS_DIR = 'users';
export const PROD_TARGETS_FILE = 'prod-targets.json';
export const WAVES_FILE = 'waves.json';
export const CI_TARGETS_FILE = 'ci-targets.json';

/** The JSON maps kept beside the roots: production tags (E15), active waves (E16), uploaded CI targets. */
export type TargetsKind = 'prod' | 'waves' | 'ci';
const TARGETS_FILES: Record<TargetsKind, string> = { prod: PROD_TARGETS_FILE, waves: WAVES_FILE, ci: CI_TARGETS_FILE };

/** `transaction.json`: one open TUF root updates transaction. */
export interface Transaction {
  txid: string;
  status: Exclude<UpdatesStatus, 'NONE'>;
  firstTime: boolean;
  shortcut: boolean;
  message: string;
  createdBy: string;
  createdAt: string;
  updatedBy: string;
  updatedAt: string;
  /** The CI root version the transaction started from. */
  baseVersion: number;
  /** The staged roots: written by init (unsigned), replaced by each accepted PUT. */
  ciRoot: RootDocument;
  prodRoot: RootDocument;
  /** True once a PUT passed validation: only then may the transaction be applied. */
  signed: boolean;
  /** Why `signed` is false after a PUT: the root thresholds not met yet. */
  unsignedReasons?: string[];
  /** The `x-changelog` the server staged at init (a PUT must keep it). */
  changelog?: JsonObject;
  /** Online key IDs of the staged roots (E14 changes them); absent = the Factory's current ones. */
  onlineKeys?: OnlineKeyIds;
  /** Staged `targets-signatures` / `waves-signatures`, by tag or wave, then key ID. */
  targetsSignatures?: Record<string, JsonObject[]>;
  wavesSignatures?: Record<string, JsonObject[]>;
}

/** Writes a file so that readers see the old content or the new, never a mixture (replaces it). */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  return writeAtomic(file, data, { mode, overwrite: true });
}

export async function ensureDir(dir: string, mode = 0o700): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
}

/** JSON as the practice factory writes it: 2-space indented with a final newline. */
export function jsonText(v: unknown): string {
  return JSON.stringify(v, null, 2) + '\n';
}

export function rootFileName(version: number): string {
  return `${version}.root.json`;
}

function stateError(what: string, cause?: unknown): AppError {
  return new AppError(
    'TARGET_NOT_CONFIGURED',
    `The practice factory folder is damaged: ${what}`,
    'Create a new practice factory with `tuf-rotate practice DIR` in an empty folder.',
    cause === undefined ? undefined : { cause },
  );
}

function str(o: JsonObject, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw stateError(`${what}: "${key}" is not a string`);
  return v;
}

function toRootDocument(v: unknown, what: string): RootDocument {
  if (!isJsonObject(v) || !isJsonObject(v['signed']) || !Array.isArray(v['signatures'])) {
    throw stateError(`${what} is not a signed root document`);
  }
  return v as RootDocument;
}

export function configToJson(c: FactoryConfig): JsonObject {
  return {
    format: c.format,
    name: c.name,
    'polis-id': c.polisId,
    'user-name': c.userName,
    role: c.role,
    'first-time-pending': c.firstTimePending,
    'online-keys': { ...c.onlineKeys },
    'created-at': c.createdAt,
    ...(c.users.length > 0 ? { users: c.users.map((u) => ({ name: u.name, 'polis-id': u.polisId, role: u.role })) } : {}),
  };
}

function configFromJson(v: unknown): FactoryConfig {
  if (!isJsonObject(v)) throw stateError(`${FACTORY_FILE} is not a JSON object`);
  if (v['format'] !== 1) throw stateError(`${FACTORY_FILE} has an unknown format`);
  const keys = v['online-keys'];
  if (!isJsonObject(keys)) throw stateError(`${FACTORY_FILE}: "online-keys" is missing`);
  return {
    format: 1,
    name: str(v, 'name', FACTORY_FILE),
    polisId: str(v, 'polis-id', FACTORY_FILE),
    userName: str(v, 'user-name', FACTORY_FILE),
    role: str(v, 'role', FACTORY_FILE),
    firstTimePending: v['first-time-pending'] === true,
    onlineKeys: {
      targets: str(keys, 'targets', 'online-keys'),
      snapshot: str(keys, 'snapshot', 'online-keys'),
      timestamp: str(keys, 'timestamp', 'online-keys'),
    },
    createdAt: str(v, 'created-at', FACTORY_FILE),
    users: (Array.isArray(v['users']) ? v['users'] : []).map((u, i) => {
      if (!isJsonObject(u)) throw stateError(`${FACTORY_FILE}: users[${i}] is not an object`);
      return { name: str(u, 'name', 'users'), polisId: str(u, 'polis-id', 'users'), role: str(u, 'role', 'users') };
    }),
  };
}

export function transactionToJson(t: Transaction): JsonObject {
  return {
    txid: t.txid,
    status: t.status,
    'first-time': t.firstTime,
    shortcut: t.shortcut,
    message: t.message,
    'created-by': t.createdBy,
    'created-at': t.createdAt,
    'updated-by': t.updatedBy,
    'updated-at': t.updatedAt,
    'base-version': t.baseVersion,
    'ci-root': t.ciRoot,
    'prod-root': t.prodRoot,
    signed: t.signed,
    ...(t.changelog !== undefined ? { changelog: t.changelog } : {}),
    ...(t.unsignedReasons !== undefined ? { 'unsigned-reasons': t.unsignedReasons } : {}),
    ...(t.onlineKeys !== undefined ? { 'online-keys': { ...t.onlineKeys } } : {}),
    ...(t.targetsSignatures !== undefined ? { 'targets-signatures': t.targetsSignatures } : {}),
    ...(t.wavesSignatures !== undefined ? { 'waves-signatures': t.wavesSignatures } : {}),
  };
}

function sigMap(v: unknown): Record<string, JsonObject[]> | undefined {
  if (!isJsonObject(v)) return undefined;
  const out: Record<string, JsonObject[]> = {};
  for (const [k, list] of Object.entries(v)) out[k] = Array.isArray(list) ? list.filter(isJsonObject) : [];
  return out;
}

function transactionFromJson(v: unknown): Transaction {
  const what = TRANSACTION_FILE;
  if (!isJsonObject(v)) throw stateError(`${what} is not a JSON object`);
  const status = v['status'];
  if (status !== 'STARTED' && status !== 'APPLYING') throw stateError(`${what} has an unknown status`);
  const base = v['base-version'];
  if (typeof base !== 'number' || !Number.isSafeInteger(base)) throw stateError(`${what}: bad base-version`);
  return {
    txid: str(v, 'txid', what),
    status,
    firstTime: v['first-time'] === true,
    shortcut: v['shortcut'] === true,
    message: str(v, 'message', what),
    createdBy: str(v, 'created-by', what),
    createdAt: str(v, 'created-at', what),
    updatedBy: str(v, 'updated-by', what),
    updatedAt: str(v, 'updated-at', what),
    baseVersion: base,
    ciRoot: toRootDocument(v['ci-root'], `${what} ci-root`),
    prodRoot: toRootDocument(v['prod-root'], `${what} prod-root`),
    signed: v['signed'] === true,
    ...(isJsonObject(v['changelog']) ? { changelog: v['changelog'] } : {}),
    ...(Array.isArray(v['unsigned-reasons']) ? { unsignedReasons: v['unsigned-reasons'].filter((x): x is string => typeof x === 'string') } : {}),
    ...(isJsonObject(v['online-keys'])
      ? { onlineKeys: { targets: str(v['online-keys'], 'targets', what), snapshot: str(v['online-keys'], 'snapshot', what), timestamp: str(v['online-keys'], 'timestamp', what) } }
      : {}),
    ...(sigMap(v['targets-signatures']) !== undefined ? { targetsSignatures: sigMap(v['targets-signatures']) as Record<string, JsonObject[]> } : {}),
    ...(sigMap(v['waves-signatures']) !== undefined ? { wavesSignatures: sigMap(v['waves-signatures']) as Record<string, JsonObject[]> } : {}),
  };
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw stateError(`${what} cannot be read`, e);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw stateError(`${what} is not valid JSON`, e);
  }
}

async function loadHistory(dir: string, kind: RootKind): Promise<string[]> {
  const folder = path.join(dir, kind);
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (e) {
    throw stateError(`the ${kind}/ folder is missing`, e);
  }
  const versions = names
    .map((n) => /^([1-9][0-9]{0,8})\.root\.json$/.exec(n)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  const texts: string[] = [];
  for (const [i, v] of versions.entries()) {
    if (v !== i + 1) throw stateError(`${kind}/ has a gap before ${rootFileName(v)}`);
    const text = await readFile(path.join(folder, rootFileName(v)), 'utf8');
    const doc = toRootDocument(JSON.parse(text) as unknown, `${kind}/${rootFileName(v)}`);
    if (doc.signed['version'] !== v) throw stateError(`${kind}/${rootFileName(v)} holds another version`);
    texts.push(text);
  }
  if (texts.length === 0) throw stateError(`${kind}/ holds no root`);
  return texts;
}

/**
 * The state of one practice factory, in memory and on disk. Callers serialise mutations (the
 * server runs them one at a time); every mutating method persists before it returns.
 */
export class PracticeState {
  private constructor(
    readonly dir: string,
    private configValue: FactoryConfig,
    private readonly history: Record<RootKind, string[]>,
    private tx: Transaction | undefined,
  ) {}

  static async load(dir: string): Promise<PracticeState> {
    const config = configFromJson(await readJson(path.join(dir, FACTORY_FILE), FACTORY_FILE));
    const ci = await loadHistory(dir, 'ci');
    const prod = await loadHistory(dir, 'prod');
    let tx: Transaction | undefined;
    const txText = await readFile(path.join(dir, TRANSACTION_FILE), 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw stateError(`${TRANSACTION_FILE} cannot be read`, e);
    });
    if (txText !== undefined) {
      try {
        tx = transactionFromJson(JSON.parse(txText) as unknown);
      } catch (e) {
        throw e instanceof AppError ? e : stateError(`${TRANSACTION_FILE} is not valid JSON`, e);
      }
    }
    return new PracticeState(dir, config, { ci, prod }, tx);
  }

  get config(): FactoryConfig {
    return this.configValue;
  }

  get transaction(): Transaction | undefined {
    return this.tx;
  }

  get status(): UpdatesStatus {
    return this.tx?.status ?? 'NONE';
  }

  /** Highest version in a history. */
  version(kind: RootKind): number {
    return this.history[kind].length;
  }

  /** A root exactly as stored, or undefined past the end. Version defaults to the newest. */
  rootText(kind: RootKind, version?: number): string | undefined {
    const list = this.history[kind];
    const v = version ?? list.length;
    return Number.isSafeInteger(v) && v >= 1 ? list[v - 1] : undefined;
  }

  rootDocument(kind: RootKind, version?: number): RootDocument {
    const text = this.rootText(kind, version);
    if (text === undefined) throw stateError(`${kind} root ${version ?? 'latest'} is missing`);
    return JSON.parse(text) as RootDocument;
  }

  /** Appends the next version to a history; the version must be exactly the next one. */
  async appendRoot(kind: RootKind, doc: RootDocument): Promise<void> {
    const next = this.history[kind].length + 1;
    if (doc.signed['version'] !== next) {
      throw new AppError('INTERNAL', `${kind} root version ${String(doc.signed['version'])} is not ${next}`, 'Report a bug.');
    }
    const text = jsonText(doc);
    await writeFileAtomic(path.join(this.dir, kind, rootFileName(next)), text, 0o644);
    this.history[kind].push(text);
  }

  async saveTransaction(tx: Transaction): Promise<void> {
    await writeFileAtomic(path.join(this.dir, TRANSACTION_FILE), jsonText(transactionToJson(tx)));
    this.tx = tx;
  }

  async clearTransaction(): Promise<void> {
    await rm(path.join(this.dir, TRANSACTION_FILE), { force: true });
    await fsyncDir(this.dir);
    this.tx = undefined;
  }

  async saveConfig(config: FactoryConfig): Promise<void> {
    await writeFileAtomic(path.join(this.dir, FACTORY_FILE), jsonText(configToJson(config)), 0o644);
    this.configValue = config;
  }

  /** A file of `server-keys/`, or undefined if it is not there. */
  async serverKey(name: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(path.join(this.dir, SERVER_KEYS_DIR, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Production tags (E15) or active waves (E16): name → `{signatures, signed}`; CI targets: name → target; none → {}. */
  async targetsFile(which: TargetsKind): Promise<Record<string, JsonObject>> {
    const file = path.join(this.dir, TARGETS_FILES[which]);
    const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw stateError(`${path.basename(file)} cannot be read`, e);
    });
    if (text === undefined) return {};
    const v = JSON.parse(text) as unknown;
    if (!isJsonObject(v)) throw stateError(`${path.basename(file)} is not a JSON object`);
    const out: Record<string, JsonObject> = {};
    for (const [k, x] of Object.entries(v)) if (isJsonObject(x)) out[k] = x;
    return out;
  }

  async saveTargetsFile(which: TargetsKind, v: Record<string, JsonObject>): Promise<void> {
    await writeFileAtomic(path.join(this.dir, TARGETS_FILES[which]), jsonText(v), 0o644);
  }

  async saveServerKey(name: string, data: Uint8Array): Promise<void> {
    await ensureDir(path.join(this.dir, SERVER_KEYS_DIR));
    await writeFileAtomic(path.join(this.dir, SERVER_KEYS_DIR, name), data);
  }

  /** The tokens of every admin: owner first (OSF-TOKEN), then `users/NAME.token`. */
  async userTokens(): Promise<{ user: PracticeUser; token: string }[]> {
    const c = this.configValue;
    const out = [{ user: { name: 'owner', polisId: c.polisId, role: c.role }, token: await readPracticeToken(this.dir) }];
    for (const u of c.users) {
      const token = (await readFile(path.join(this.dir, USERS_DIR, `${u.name}.token`), 'utf8').catch((e: unknown) => {
        throw stateError(`${USERS_DIR}/${u.name}.token cannot be read`, e);
      })).trim();
      if (token === '') throw stateError(`${USERS_DIR}/${u.name}.token is empty`);
      out.push({ user: u, token });
    }
    return out;
  }

  async removeServerKey(name: string): Promise<void> {
    await rm(path.join(this.dir, SERVER_KEYS_DIR, name), { force: true });
  }
}

/** Reads the token a practice factory accepts (the file `create` wrote). */
export async function readPracticeToken(dir: string): Promise<string> {
  const token = (await readFile(path.join(dir, TOKEN_FILE), 'utf8')).trim();
  if (token.length === 0) throw stateError(`${TOKEN_FILE} is empty`);
  return token;
}
