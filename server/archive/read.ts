/**
 * Reads a Factory key archive (`.tgz`, foundries-api.md §4) in memory: never extracted to disk.
 * The gzip layer is inflated with an output cap; the tar layer is parsed by archive/tar.ts with
 * every limit of product.md invariant 6 checked as the parser goes.
 *
 * Entries are kept byte for byte (config.json and credentials.zip hold OAuth secrets: they are
 * never parsed, shown or logged); only `.pub` and `.sec` files are read as keys.
 */
import { createHash } from 'node:crypto';
import { inspect, promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { AppError } from '../errors.js';
import { isJsonObject, type JsonObject } from '../tuf/json.js';
import { algorithmOfKeytype, publicKeyOf, samePublicKey } from '../tuf/public-key.js';
import { parseArchiveSecret } from '../tuf/archive-keys.js';
import { type PrivateKey, privateKeyMatches } from '../tuf/private-key.js';
import type { KeyAlgorithm, PublicKeyInfo, Root } from '../tuf/model.js';
import { archivePrefix, baseOf, isPublicKeyName, isSecretKeyName, secretNameFor, shortKeyId } from './layout.js';
import { readTokenRef, tokenRefName } from './token-ref.js';
import { type ArchiveEntry, type ArchiveFileEntry, type ArchiveLimits, DEFAULT_LIMITS, NOT_AN_ARCHIVE_HINT, parseTar } from './tar.js';

// The tar layer's names, for the modules that import them from here.

const gunzipAsync = promisify(gunzip);

/**
 * `ok`: a usable pair. `missing-sec` / `missing-pub`: half a pair. `mismatch`: the `.sec` is not the
 * private half of the `.pub`. `unknown-type`: a keytype we cannot use (garage-sign's ECPRIME256V1…).
 * `unparseable`: not the JSON shape, or key material that does not decode. `token`: no `.sec`, the
 * private key is in a hardware token named by `<base>.pkcs11.json` (see token-ref.ts).
 */
export type ArchiveKeyStatus = 'ok' | 'token' | 'missing-sec' | 'missing-pub' | 'mismatch' | 'unknown-type' | 'unparseable';

export interface ArchiveKey {
  /** The pair's name without `.pub`/`.sec`. */
  base: string;
  /** undefined only for status `missing-pub`. */
  pubName: string | undefined;
  /** fioctl's sibling of pubName (first `.pub` → `.sec`), when that entry exists. */
  secName: string | undefined;
  /** `keytype` as written, when readable. */
  keytype: string | undefined;
  /** `keyval.public` of the `.pub` as written, when readable. */
  public: string | undefined;
  algorithm: KeyAlgorithm | undefined;
  publicKey?: PublicKeyInfo;
  status: ArchiveKeyStatus;
  /** What is wrong, in words; never key material. */
  problem?: string;
  /** Status `token`: the pkcs11: URI of the key (no PIN). */
  tokenUri?: string;
}

/** What may be shown or sent: names, sizes, key facts. No file contents, no private material. */
export interface ArchiveSummary {
  name: string | undefined;
  sha256: string;
  size: number;
  entries: { name: string; type: 'file' | 'dir'; size: number; mode: number }[];
  keys: {
    base: string;
    pubName: string | undefined;
    secName: string | undefined;
    keytype: string | undefined;
    algorithm: KeyAlgorithm | undefined;
    bits: number | undefined;
    status: ArchiveKeyStatus;
    problem?: string;
    tokenUri?: string;
  }[];
}

/** A parsed archive. Private keys of `ok` pairs are reachable only through `privateKey(base)`. */
export class KeyArchive {
  readonly #privateKeys: ReadonlyMap<string, PrivateKey>;

  /** @internal use readKeyArchive. */
  constructor(
    /** A label for messages (the file name), if the caller gave one. */
    readonly name: string | undefined,
    /** SHA-256 of the `.tgz` bytes, lowercase hex. */
    readonly sha256: string,
    /** Size of the `.tgz` in bytes. */
    readonly size: number,
    readonly entries: readonly ArchiveEntry[],
    readonly keys: readonly ArchiveKey[],
    privateKeys: ReadonlyMap<string, PrivateKey>,
  ) {
    this.#privateKeys = privateKeys;
  }

  /** `'./'` when the key files are stored as `./tufrepo/...`, else `''`: new entries follow suit. */
  get prefix(): '' | './' {
    return archivePrefix(this.entries.map((e) => e.name));
  }

  entry(name: string): ArchiveEntry | undefined {
    return this.entries.find((e) => e.name === name);
  }

  /** The private key of an `ok` pair, by base name. */
  privateKey(base: string): PrivateKey | undefined {
    return this.#privateKeys.get(base);
  }

  toJSON(): ArchiveSummary {
    return summarizeArchive(this);
  }

  [inspect.custom](): ArchiveSummary {
    return summarizeArchive(this);
  }
}

export function summarizeArchive(archive: KeyArchive): ArchiveSummary {
  return {
    name: archive.name,
    sha256: archive.sha256,
    size: archive.size,
    entries: archive.entries.map((e) => ({ name: e.name, type: e.type, size: e.type === 'file' ? e.size : 0, mode: e.mode })),
    keys: archive.keys.map((k) => ({
      base: k.base,
      pubName: k.pubName,
      secName: k.secName,
      keytype: k.keytype,
      algorithm: k.algorithm,
      bits: k.publicKey?.bits,
      status: k.status,
      ...(k.problem === undefined ? {} : { problem: k.problem }),
      ...(k.tokenUri === undefined ? {} : { tokenUri: k.tokenUri }),
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// Reading

export async function readKeyArchive(
  bytes: Uint8Array,
  opts: { limits?: Partial<ArchiveLimits>; name?: string } = {},
): Promise<KeyArchive> {
  const limits: ArchiveLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const label = opts.name ?? 'the key archive';
  if (bytes.length > limits.maxCompressedBytes) {
    throw new AppError(
      'ARCHIVE_TOO_LARGE',
      `${label} is ${bytes.length} bytes; a key archive may be at most ${limits.maxCompressedBytes} bytes`,
      'Choose the offline key archive (.tgz) fioctl wrote; it holds a few small key files.',
    );
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const tar = await inflate(bytes, limits, label);
  const entries = parseTar(tar, limits, label);
  const { keys, privateKeys } = classifyKeys(entries);
  return new KeyArchive(opts.name, sha256, bytes.length, entries, keys, privateKeys);
}


async function inflate(bytes: Uint8Array, limits: ArchiveLimits, label: string): Promise<Uint8Array> {
  if (bytes.length === 0) throw new AppError('ARCHIVE_INVALID', `${label} is empty (0 bytes)`, NOT_AN_ARCHIVE_HINT);
  if (bytes.length < 18 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    throw new AppError('ARCHIVE_INVALID', `${label} is not gzip-compressed (a .tgz starts with the gzip signature)`, NOT_AN_ARCHIVE_HINT);
  }
  try {
    // maxOutputLength stops inflating as soon as the output passes the cap (zip bombs).
    return await gunzipAsync(bytes, { maxOutputLength: limits.maxExpandedBytes });
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new AppError(
        'ARCHIVE_TOO_LARGE',
        `${label} expands to more than ${limits.maxExpandedBytes} bytes`,
        'A key archive holds a few small files; choose the archive fioctl wrote.',
        { cause: e },
      );
    }
    const truncated = (e as { code?: unknown }).code === 'Z_BUF_ERROR';
    throw new AppError(
      'ARCHIVE_INVALID',
      truncated ? `${label} is truncated (the gzip stream ends early)` : `${label} is not valid gzip data`,
      NOT_AN_ARCHIVE_HINT,
      { cause: e },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Keys (foundries-api.md §4.1, §4.4)

const utf8 = new TextDecoder('utf-8', { fatal: true });

interface ParsedPub {
  keytype: string;
  public: string;
}

function readJsonObject(data: Uint8Array): JsonObject | undefined {
  try {
    const v: unknown = JSON.parse(utf8.decode(data));
    return isJsonObject(v) ? v : undefined;
  } catch {
    // Never surface the parser's message: it quotes the file's text.
    return undefined;
  }
}

function readPub(data: Uint8Array): ParsedPub | undefined {
  const o = readJsonObject(data);
  const keyval = o?.['keyval'];
  const keytype = o?.['keytype'];
  const pub = isJsonObject(keyval) ? keyval['public'] : undefined;
  return typeof keytype === 'string' && typeof pub === 'string' ? { keytype, public: pub } : undefined;
}

/** The message of one of our own errors (they never carry key material), else a fixed text. */
function reason(e: unknown): string {
  return e instanceof AppError ? e.message : 'it could not be decoded';
}

function classifyKeys(entries: readonly ArchiveEntry[]): { keys: ArchiveKey[]; privateKeys: Map<string, PrivateKey> } {
  const files = new Map<string, ArchiveFileEntry>();
  for (const e of entries) if (e.type === 'file') files.set(e.name, e);
  const keys: ArchiveKey[] = [];
  const privateKeys = new Map<string, PrivateKey>();
  const claimedSecs = new Set<string>();

  for (const e of entries) {
    if (e.type !== 'file') continue;
    if (isPublicKeyName(e.name)) {
      const secName = secretNameFor(e.name);
      const sec = files.get(secName);
      if (sec !== undefined) claimedSecs.add(secName);
      const key = classifyPair(e, sec, privateKeys, sec === undefined ? files.get(tokenRefName(baseOf(e.name))) : undefined);
      keys.push(key);
    }
  }
  for (const e of entries) {
    if (e.type !== 'file' || !isSecretKeyName(e.name) || claimedSecs.has(e.name)) continue;
    // A private key without its public half: listed so the user sees it; fioctl would never use it.
    const key: ArchiveKey = {
      base: baseOf(e.name),
      pubName: undefined,
      secName: e.name,
      keytype: undefined,
      public: undefined,
      algorithm: undefined,
      status: 'missing-pub',
      problem: `${e.name} has no ${baseOf(e.name)}.pub beside it`,
    };
    const o = readJsonObject(e.data);
    if (o !== undefined && typeof o['keytype'] === 'string') {
      key.keytype = o['keytype'];
      key.algorithm = algorithmOfKeytype(o['keytype']);
      try {
        key.publicKey = parseArchiveSecret(o).publicKey; // which key it is; the private half is dropped
      } catch {
        // listed as missing-pub either way
      }
    }
    keys.push(key);
  }
  return { keys, privateKeys };
}

function classifyPair(pub: ArchiveFileEntry, sec: ArchiveFileEntry | undefined, privateKeys: Map<string, PrivateKey>, tokenRef?: ArchiveFileEntry): ArchiveKey {
  const key: ArchiveKey = {
    base: baseOf(pub.name),
    pubName: pub.name,
    secName: sec?.name,
    keytype: undefined,
    public: undefined,
    algorithm: undefined,
    status: 'unparseable',
  };
  const parsed = readPub(pub.data);
  if (parsed === undefined) {
    key.problem = `${pub.name} is not {"keytype": …, "keyval": {"public": …}} JSON`;
    return key;
  }
  key.keytype = parsed.keytype;
  key.public = parsed.public;
  key.algorithm = algorithmOfKeytype(parsed.keytype);
  if (key.algorithm === undefined) {
    key.status = 'unknown-type';
    key.problem = `${pub.name} has key type ${JSON.stringify(parsed.keytype)}, which tuf-rotate cannot use`;
    return key;
  }
  try {
    // fioctl compares the trimmed text, so surrounding whitespace is not part of the key.
    const text = parsed.public.trim();
    key.publicKey = publicKeyOf({
      keytype: parsed.keytype,
      scheme: undefined,
      public: text,
      algorithm: key.algorithm,
      json: { keytype: parsed.keytype, keyval: { public: text } },
    });
  } catch (e) {
    key.problem = `${pub.name}: ${reason(e)}`;
    return key;
  }
  if (sec === undefined && tokenRef !== undefined) {
    const ref = readTokenRef(tokenRef.data);
    if ('uri' in ref) {
      key.status = 'token';
      key.tokenUri = ref.uri;
      return key;
    }
    key.problem = `${tokenRef.name} ${ref.problem}`;
    return key;
  }
  if (sec === undefined) {
    key.status = 'missing-sec';
    key.problem = `${pub.name} has no ${secretNameFor(pub.name)} beside it`;
    return key;
  }
  const secJson = readJsonObject(sec.data);
  const secType = secJson?.['keytype'];
  if (secJson === undefined || typeof secType !== 'string') {
    key.problem = `${sec.name} is not {"keytype": …, "keyval": {"private": …}} JSON`;
    return key;
  }
  if (algorithmOfKeytype(secType) !== key.algorithm) {
    key.status = 'mismatch';
    key.problem = `${sec.name} has key type ${JSON.stringify(secType)} but ${pub.name} has ${JSON.stringify(parsed.keytype)}`;
    return key;
  }
  let priv: PrivateKey;
  try {
    priv = parseArchiveSecret(secJson);
  } catch (e) {
    const mismatch = e instanceof AppError && e.code === 'KEY_MISMATCH';
    key.status = mismatch ? 'mismatch' : 'unparseable';
    key.problem = `${sec.name}: ${reason(e)}`;
    return key;
  }
  if (!privateKeyMatches(priv, key.publicKey)) {
    key.status = 'mismatch';
    key.problem = `${sec.name} is not the private key of ${pub.name}`;
    return key;
  }
  key.status = 'ok';
  privateKeys.set(key.base, priv);
  return key;
}

// ---------------------------------------------------------------------------------------------
// Matching against a root (fioctl `findTufSigners`: by public key, never by name or key ID)

export interface ArchiveMatch {
  /** Role key IDs whose private key the archive holds in an `ok` pair. */
  held: { keyid: string; base: string }[];
  /** Role key IDs with no usable pair in the archive. */
  missing: string[];
  /** Pairs whose public key is a role key but which cannot sign (half pair, mismatch, type). */
  problems: { keyid: string; base: string; status: ArchiveKeyStatus; problem: string }[];
}

function rootPublicKey(root: Root, keyid: string): PublicKeyInfo | undefined {
  const k = root.keys[keyid];
  if (k === undefined) return undefined;
  try {
    return publicKeyOf(k);
  } catch {
    return undefined;
  }
}

export function matchArchiveToRoot(archive: KeyArchive, root: Root, role = 'root'): ArchiveMatch {
  const result: ArchiveMatch = { held: [], missing: [], problems: [] };
  for (const keyid of root.roles[role]?.keyids ?? []) {
    const rk = root.keys[keyid];
    let held = false;
    if (rk !== undefined) {
      const rpub = rootPublicKey(root, keyid);
      for (const k of archive.keys) {
        if (k.pubName === undefined) continue; // fioctl searches .pub files only
        const sameMaterial =
          (rpub !== undefined && k.publicKey !== undefined && samePublicKey(rpub, k.publicKey)) ||
          (k.public !== undefined && k.public.trim() === rk.public.trim());
        if (!sameMaterial) continue;
        const sameType = k.keytype !== undefined && k.keytype.toLowerCase() === rk.keytype.toLowerCase();
        if (k.status === 'ok' && sameType) {
          result.held.push({ keyid, base: k.base });
          held = true;
        } else if (k.status !== 'ok') {
          result.problems.push({ keyid, base: k.base, status: k.status, problem: k.problem ?? k.status });
        } else {
          result.problems.push({
            keyid,
            base: k.base,
            status: 'mismatch',
            problem: `${k.pubName} has key type ${JSON.stringify(k.keytype)} but root.json has ${JSON.stringify(rk.keytype)}`,
          });
        }
      }
    }
    if (!held) result.missing.push(keyid);
  }
  return result;
}

export interface RoleSigner {
  keyid: string;
  base: string;
  privateKey: PrivateKey;
}

/**
 * The one private key of `role` the archive holds (fioctl `FindOneTufSigner`). Two held keys of
 * the role are refused, as fioctl does: one file must not carry two active keys of a role.
 */
export function findRoleSigner(archive: KeyArchive, root: Root, role = 'root'): RoleSigner {
  const label = archive.name ?? 'the key archive';
  const match = matchArchiveToRoot(archive, root, role);
  const heldIds = [...new Set(match.held.map((h) => h.keyid))];
  if (heldIds.length > 1) {
    throw new AppError(
      'ARCHIVE_TWO_ACTIVE_KEYS',
      `${label} holds more than one active private key of the ${role} role (${heldIds.map(shortKeyId).join(', ')}); this is unsupported and insecure`,
      'Keep one active key of a role per archive file: move the other pair to a separate archive.',
    );
  }
  const [first] = match.held;
  if (first !== undefined) {
    const privateKey = archive.privateKey(first.base);
    if (privateKey === undefined) throw new AppError('INTERNAL', 'a held key has no private key', 'Report this as a bug.');
    return { keyid: first.keyid, base: first.base, privateKey };
  }
  const problem = (status: ArchiveKeyStatus) => match.problems.find((p) => p.status === status);
  const onToken = problem('token');
  if (onToken !== undefined) {
    const uri = archive.keys.find((k) => k.base === onToken.base)?.tokenUri ?? 'a hardware token';
    throw new AppError(
      'ARCHIVE_NO_ROOT_KEY',
      `${label}: the ${role} key ${shortKeyId(onToken.keyid)} is in a hardware token (${uri}), not in the archive`,
      `Sign with the token: pass --keys "${uri}" (and --pin-file, or type the PIN at the prompt).`,
    );
  }
  const mismatch = problem('mismatch');
  if (mismatch !== undefined) {
    throw new AppError(
      'ARCHIVE_PAIR_MISMATCH',
      `${label}: ${mismatch.problem} (${role} key ${shortKeyId(mismatch.keyid)})`,
      'The .pub and .sec of a pair must be the two halves of one key; restore the pair from a backup of the archive.',
    );
  }
  const incomplete = problem('missing-sec');
  if (incomplete !== undefined) {
    throw new AppError(
      'ARCHIVE_PAIR_INCOMPLETE',
      `${label}: ${incomplete.problem}, so it cannot sign for ${role} key ${shortKeyId(incomplete.keyid)}`,
      'Use the archive that holds both halves of the pair (the one fioctl wrote at the last rotation).',
    );
  }
  const unknown = problem('unknown-type');
  if (unknown !== undefined) {
    throw new AppError(
      'KEY_TYPE_UNSUPPORTED',
      `${label}: ${unknown.problem} (${role} key ${shortKeyId(unknown.keyid)})`,
      'tuf-rotate signs with RSA, Ed25519 and ECDSA P-256 keys only.',
    );
  }
  const unparseable = problem('unparseable');
  if (unparseable !== undefined) {
    throw new AppError(
      'KEY_INVALID',
      `${label}: ${unparseable.problem} (${role} key ${shortKeyId(unparseable.keyid)})`,
      'The key file is damaged; use an intact copy of the archive.',
    );
  }
  const wanted = (root.roles[role]?.keyids ?? []).map(shortKeyId);
  throw new AppError(
    'ARCHIVE_NO_ROOT_KEY',
    `${label} holds no private key for the ${role} role's key${wanted.length === 1 ? '' : 's'} ${wanted.join(', ') || '(none listed)'}`,
    role === 'root'
      ? 'Upload the archive fioctl wrote at the last root rotation (it holds tufrepo/keys/*.pub and *.sec of the current root key).'
      : `Upload the archive that holds the current offline ${role} key.`,
  );
}
