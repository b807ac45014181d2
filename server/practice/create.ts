/**
 * Makes a new practice factory: the keys and roots a FoundriesFactory has right after it was
 * created (foundries-api.md §2.2: "v1 is created by the key server at Factory creation"), written to
 * a state folder that `buildPracticeFactory` serves.
 *
 * Version 1 of the CI root has the shape of `fixtures/foundries/root-v1.json`: one root key (RSA-4096
 * like a new Factory, or Ed25519 to keep tests fast), two targets keys (the online one Foundries CI
 * signs with and an offline one), snapshot and timestamp keys; self-signed by the root key; key IDs =
 * sha256(SPKI DER). The production root v1 is the same document, as in `root-v1.prod.json`: the
 * server keeps a production v1 only for the history, and every later production root carries
 * `roles.targets.threshold` ≥ 2. We start at v1 (a real Factory's v2 "to take keys online" is
 * skipped: it changes nothing a root rotation looks at).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { buildArchiveBytes } from '../archive/write.js';
import { AppError } from '../errors.js';
import { emptyArchive } from '../keyring.js';
import type { JsonObject } from '../tuf/json.js';
import { archivePairFiles } from '../tuf/archive-keys.js';
import { generateKey } from '../tuf/private-key.js';
import { keyIdFoundries, newRootKeyJson } from '../tuf/public-key.js';
import type { PrivateKey } from '../tuf/private-key.js';
import { formatExpires, toDocument } from '../tuf/metadata.js';
import { LocalSigner, signRoot } from '../tuf/sign.js';
import {
  ARCHIVE_FILE,
  FACTORY_FILE,
  PROD_TARGETS_FILE,
  SERVER_KEYS_DIR,
  TOKEN_FILE,
  USERS_DIR,
  PracticeState,
  configToJson,
  ensureDir,
  jsonText,
  rootFileName,
  writeFileAtomic,
} from './state.js';
import type { FactoryConfig, PracticeUser } from './state.js';
import { practiceTargetsSigned, signTargets } from './targets.js';

/** The offline targets key as an fioctl targets archive (`-K`), for targets-key practice. */
export const TARGETS_ARCHIVE_FILE = 'targets-keys.tgz';

export interface CreatePracticeOptions {
  /** Factory name used in URLs (default `practice`). */
  name?: string;
  /**
   * A Factory whose owner has not taken the root key yet: no archive is written; the owner gets
   * `first_root.sec/.pub` from init with `first-time: true`.
   */
  firstTime?: boolean;
  /** Type of the first root key: RSA-4096 like a new Factory (default), or Ed25519. */
  rootKeyType?: 'ed25519' | 'rsa';
  now?: Date;
}

export interface PracticeFactoryInfo {
  dir: string;
  /** The factory name to use in API paths. */
  factory: string;
  /** The owner's key archive (absent for a first-time factory). */
  archivePath?: string;
  /** File holding the API token the practice factory accepts. */
  tokenFile: string;
  /** Key ID of the root key of version 1. */
  rootKeyId: string;
  /** The owner's user ID (what `users/self/` answers). */
  polisId: string;
}

/** Names Foundries uses in URLs: we insert the name into paths, so keep it plain. */
const FACTORY_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/i;

/** The archive entry names of the first root key pair (docs "How to View Offline TUF Keys"). */
export const FIRST_ROOT_PUB = 'tufrepo/keys/first-root.pub';
export const FIRST_ROOT_SEC = 'tufrepo/keys/first-root.sec';

/** A new Factory's root expires one year after creation (Go `AddDate(1,0,0)` normalisation). */
function oneYearAfter(now: Date): Date {
  const d = new Date(now.getTime());
  d.setUTCFullYear(d.getUTCFullYear() + 1);
  return d;
}

interface NamedKey {
  key: PrivateKey;
  keyid: string;
}

async function newKey(alg: 'ed25519' | 'rsa'): Promise<NamedKey> {
  const key = await generateKey(alg);
  return { key, keyid: keyIdFoundries(key.publicKey) };
}

export async function createPracticeFactory(dir: string, opts: CreatePracticeOptions = {}): Promise<PracticeFactoryInfo> {
  const name = opts.name ?? 'practice';
  if (!FACTORY_NAME.test(name)) {
    throw new AppError(
      'BAD_USAGE',
      `"${name}" is not a usable factory name`,
      'Use letters, digits and dashes only (up to 63 characters).',
    );
  }
  const now = opts.now ?? new Date();
  const abs = path.resolve(dir);
  await ensureDir(abs);
  const existing = await readdir(abs);
  if (existing.length > 0) {
    throw new AppError(
      existing.includes(FACTORY_FILE) ? 'FILE_EXISTS' : 'BAD_USAGE',
      `${abs} is not empty`,
      'Give a new or empty folder for the practice factory; an existing one is never overwritten.',
    );
  }

  const [root, targetsOnline, targetsOffline, snapshot, timestamp] = await Promise.all([
    newKey(opts.rootKeyType ?? 'rsa'),
    newKey('ed25519'),
    newKey('ed25519'),
    newKey('ed25519'),
    newKey('ed25519'),
  ]);

  const keys: JsonObject = {};
  for (const k of [root, targetsOnline, targetsOffline, snapshot, timestamp]) {
    keys[k.keyid] = newRootKeyJson('foundries', k.key.publicKey);
  }
  const signed: JsonObject = {
    _type: 'Root',
    consistent_snapshot: false,
    expires: formatExpires(oneYearAfter(now)),
    keys,
    roles: {
      root: { keyids: [root.keyid], threshold: 1 },
      targets: { keyids: [targetsOnline.keyid, targetsOffline.keyid], threshold: 1 },
      snapshot: { keyids: [snapshot.keyid], threshold: 1 },
      timestamp: { keyids: [timestamp.keyid], threshold: 1 },
    },
    version: 1,
  };
  const signatures = await signRoot('foundries', signed, [{ keyid: root.keyid, signer: new LocalSigner(root.key) }]);
  const v1 = jsonText(toDocument(signed, signatures));

  await ensureDir(path.join(abs, 'ci'), 0o755);
  await ensureDir(path.join(abs, 'prod'), 0o755);
  await ensureDir(path.join(abs, SERVER_KEYS_DIR));
  await writeFileAtomic(path.join(abs, 'ci', rootFileName(1)), v1, 0o644);
  await writeFileAtomic(path.join(abs, 'prod', rootFileName(1)), v1, 0o644);

  // What "the server" holds. The offline targets key is the owner's in real life; it is kept here
  // (test-only, like fixtures' online-keys.test-only.json) for future targets-key practice.
  const serverKeys: [string, PrivateKey][] = [
    ['targets-online', targetsOnline.key],
    ['targets-offline', targetsOffline.key],
    ['snapshot', snapshot.key],
    ['timestamp', timestamp.key],
  ];
  if (opts.firstTime === true) serverKeys.push(['first-root', root.key]);
  for (const [base, key] of serverKeys) {
    const pair = archivePairFiles(key);
    await writeFileAtomic(path.join(abs, SERVER_KEYS_DIR, `${base}.pub`), pair.pub);
    await writeFileAtomic(path.join(abs, SERVER_KEYS_DIR, `${base}.sec`), pair.sec);
  }

  const token = randomBytes(32).toString('base64url');
  const tokenFile = path.join(abs, TOKEN_FILE);
  await writeFileAtomic(tokenFile, token + '\n', 0o600);

  const config: FactoryConfig = {
    format: 1,
    name,
    polisId: randomUUID(),
    userName: 'Practice Owner',
    role: 'owner',
    firstTimePending: opts.firstTime === true,
    onlineKeys: { targets: targetsOnline.keyid, snapshot: snapshot.keyid, timestamp: timestamp.keyid },
    createdAt: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    users: [],
  };

  // One production tag, signed by the online and the offline targets key (prod threshold 2).
  const tagSigned = practiceTargetsSigned({ name: 'practice-lmp', version: 1, expires: formatExpires(oneYearAfter(now)), content: `${name} build 1` });
  const tag = await signTargets(tagSigned, [
    { keyid: targetsOnline.keyid, signer: new LocalSigner(targetsOnline.key) },
    { keyid: targetsOffline.keyid, signer: new LocalSigner(targetsOffline.key) },
  ]);
  await writeFileAtomic(path.join(abs, PROD_TARGETS_FILE), jsonText({ main: tag }), 0o644);
  {
    const pair = archivePairFiles(targetsOffline.key);
    const tgz = await buildArchiveBytes(emptyArchive(), [
      { name: `tufrepo/keys/fioctl-targets-${targetsOffline.keyid}.pub`, data: pair.pub },
      { name: `tufrepo/keys/fioctl-targets-${targetsOffline.keyid}.sec`, data: pair.sec },
    ]);
    await writeFileAtomic(path.join(abs, TARGETS_ARCHIVE_FILE), tgz, 0o600);
  }

  let archivePath: string | undefined;
  if (opts.firstTime !== true) {
    const pair = archivePairFiles(root.key);
    archivePath = path.join(abs, ARCHIVE_FILE);
    const tgz = await buildArchiveBytes(emptyArchive(), [
      { name: FIRST_ROOT_PUB, data: pair.pub },
      { name: FIRST_ROOT_SEC, data: pair.sec },
    ]);
    await writeFileAtomic(archivePath, tgz, 0o600);
  }
  // factory.json last: a folder without it is an unfinished practice factory, never served.
  await writeFileAtomic(path.join(abs, FACTORY_FILE), jsonText(configToJson(config)), 0o644);

  const info: PracticeFactoryInfo = { dir: abs, factory: name, tokenFile, rootKeyId: root.keyid, polisId: config.polisId };
  if (archivePath !== undefined) info.archivePath = archivePath;
  return info;
}

const USER_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

/**
 * Adds admins to a practice factory (each gets `users/NAME.token` and its own polis-id); names that
 * exist already are kept as they are. Returns every admin's token file, owner first.
 */
export async function addPracticeUsers(dir: string, names: readonly string[]): Promise<{ name: string; polisId: string; tokenFile: string }[]> {
  const abs = path.resolve(dir);
  const state = await PracticeState.load(abs);
  const config = state.config;
  const users: PracticeUser[] = [...config.users];
  for (const n of names) {
    if (!USER_NAME.test(n) || n === 'owner') {
      throw new AppError('BAD_USAGE', `"${n}" is not a usable practice user name`, 'Use lower-case letters, digits and dashes (not "owner").');
    }
    if (users.some((u) => u.name === n)) continue;
    await ensureDir(path.join(abs, USERS_DIR));
    await writeFileAtomic(path.join(abs, USERS_DIR, `${n}.token`), randomBytes(32).toString('base64url') + '\n', 0o600);
    users.push({ name: n, polisId: randomUUID(), role: 'admin' });
  }
  if (users.length !== config.users.length) await state.saveConfig({ ...config, users });
  return [
    { name: 'owner', polisId: config.polisId, tokenFile: path.join(abs, TOKEN_FILE) },
    ...users.map((u) => ({ name: u.name, polisId: u.polisId, tokenFile: path.join(abs, USERS_DIR, `${u.name}.token`) })),
  ];
}

/** Adds an active wave (E16) holding the current production tag's targets, signed like it (tests, rehearsals). */
export async function addPracticeWave(dir: string, wave: string): Promise<void> {
  const state = await PracticeState.load(path.resolve(dir));
  const tags = await state.targetsFile('prod');
  const first = Object.values(tags)[0];
  if (first === undefined) throw new AppError('TARGET_NOT_CONFIGURED', 'the practice factory has no production tag to make a wave of', 'Create a new practice factory.');
  const waves = await state.targetsFile('waves');
  waves[wave] = JSON.parse(JSON.stringify(first)) as JsonObject;
  await state.saveTargetsFile('waves', waves);
}
