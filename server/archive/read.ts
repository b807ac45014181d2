/**
 * Reads a Factory key archive (`.tgz`, foundries-api.md §4) in memory: never extracted to disk.
 * The gzip layer is inflated with an output cap, the tar layer is parsed here (ustar, pax and GNU
 * long names) with every limit of product.md invariant 6 checked as the parser goes.
 *
 * Entries are kept byte for byte (config.json and credentials.zip hold OAuth secrets: they are
 * never parsed, shown or logged); only `.pub` and `.sec` files are read as keys.
 */
import { createHash } from 'node:crypto';
import { inspect, promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { AppError } from '../errors.js';
import { isJsonObject, type JsonObject } from '../tuf/json.js';
import { algorithmOfKeytype, parseArchiveSecret, type PrivateKey, privateKeyMatches, publicKeyOf, samePublicKey } from '../tuf/keys.js';
import type { KeyAlgorithm, PublicKeyInfo, Root } from '../tuf/model.js';
import { archivePrefix, baseOf, isPublicKeyName, isSecretKeyName, secretNameFor, shortKeyId } from './layout.js';

const gunzipAsync = promisify(gunzip);

export interface ArchiveLimits {
  /** Size of the `.tgz` itself. */
  maxCompressedBytes: number;
  /** Size of the tar stream after gunzip (headers and padding included). */
  maxExpandedBytes: number;
  /** Files and directories (pax and GNU long-name headers are not counted). */
  maxEntries: number;
}

/** product.md invariant 6. */
export const DEFAULT_LIMITS: Readonly<ArchiveLimits> = Object.freeze({
  maxCompressedBytes: 10 * 1024 * 1024,
  maxExpandedBytes: 64 * 1024 * 1024,
  maxEntries: 2000,
});

interface EntryMeta {
  /** The name exactly as stored (pax `path`, GNU long name, or ustar prefix + name). */
  name: string;
  /** Permission bits as stored (`& 0o7777`). */
  mode: number;
  /** Seconds since the epoch; a pax `mtime` may carry a fraction. */
  mtime: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
}

export interface ArchiveFileEntry extends EntryMeta {
  type: 'file';
  size: number;
  /** The contents, byte for byte. Non-enumerable: JSON.stringify and util.inspect skip it. */
  readonly data: Uint8Array;
}

export interface ArchiveDirEntry extends EntryMeta {
  type: 'dir';
}

export type ArchiveEntry = ArchiveFileEntry | ArchiveDirEntry;

/**
 * `ok`: a usable pair. `missing-sec` / `missing-pub`: half a pair. `mismatch`: the `.sec` is not the
 * private half of the `.pub`. `unknown-type`: a keytype we cannot use (garage-sign's ECPRIME256V1…).
 * `unparseable`: not the JSON shape, or key material that does not decode.
 */
export type ArchiveKeyStatus = 'ok' | 'missing-sec' | 'missing-pub' | 'mismatch' | 'unknown-type' | 'unparseable';

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

const NOT_AN_ARCHIVE_HINT = 'Choose the offline key archive (.tgz) fioctl wrote, unchanged; re-copy it if it was truncated.';

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
// Tar: ustar (POSIX.1-1988), pax extended headers (POSIX.1-2001), GNU long names, old v7.

const BLOCK = 512;
const utf8 = new TextDecoder('utf-8', { fatal: true });

interface PaxOverrides {
  path?: string;
  size?: number;
  mtime?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
}

function parseTar(tar: Uint8Array, limits: ArchiveLimits, label: string): ArchiveEntry[] {
  const invalid = (what: string): AppError => new AppError('ARCHIVE_INVALID', `${label} ${what}`, NOT_AN_ARCHIVE_HINT);
  if (tar.length === 0) throw invalid('holds no tar data');
  const entries: ArchiveEntry[] = [];
  const seen = new Map<string, string>();
  let pax: PaxOverrides = {};
  let longName: string | undefined;
  let off = 0;
  while (off < tar.length) {
    if (off + BLOCK > tar.length) throw invalid('is truncated (a tar header is cut short)');
    const h = tar.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) {
      // End-of-archive: two zero blocks. Tools disagree on what follows a lone zero block, so a
      // header after one is refused rather than read differently than tar would.
      const next = tar.subarray(off + BLOCK, off + 2 * BLOCK);
      if (next.some((b) => b !== 0)) throw invalid('has data after its end-of-archive marker');
      if (Object.keys(pax).length > 0 || longName !== undefined) throw invalid('ends after an extended header without its entry');
      return entries;
    }
    const where = `entry ${entries.length + 1}`;
    if (!checksumOk(h)) throw invalid(`is corrupt: the tar header of ${where} fails its checksum`);
    const magic = latin1(h.subarray(257, 263));
    const version = latin1(h.subarray(263, 265));
    const isUstar = magic === 'ustar\0' && version === '00';
    const isGnu = magic === 'ustar ' && version === ' \0';
    const typeflag = String.fromCharCode(h[156] ?? 0);
    const isMeta = typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K';
    // A pax `size` overrides the header's for the entry it describes, not for other extended headers.
    const size = (isMeta ? undefined : pax.size) ?? numeric(h, 124, 12, where, invalid);
    const dataStart = off + BLOCK;
    const dataEnd = dataStart + size;
    if (!Number.isSafeInteger(size) || size < 0 || dataEnd > tar.length) {
      throw invalid(`is truncated (${where} ends past the end of the data)`);
    }
    const data = tar.subarray(dataStart, dataEnd);
    off = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    // Headers that describe the next entry.
    if (typeflag === 'x') {
      pax = { ...pax, ...parsePax(data, where, invalid) };
      continue;
    }
    if (typeflag === 'g') continue; // global pax header: defaults we do not need (names are per entry)
    if (typeflag === 'L') {
      longName = decodeName(data.subarray(0, nulIndex(data)), where, invalid);
      continue;
    }
    if (typeflag === 'K') continue; // GNU long link name: belongs to a link, refused below

    let name = pax.path ?? longName;
    if (name === undefined) {
      const base = decodeName(cstring(h, 0, 100), where, invalid);
      const prefix = isUstar ? decodeName(cstring(h, 345, 155), where, invalid) : '';
      name = prefix === '' ? base : `${prefix}/${base}`;
    }
    const shown = JSON.stringify(name);
    let type: 'file' | 'dir';
    switch (typeflag) {
      case '0':
      case '\0':
      case '7': // contiguous file: a regular file to everyone but a few old systems
        // Old (v7) tars mark directories only by the trailing slash.
        type = name.endsWith('/') && size === 0 ? 'dir' : 'file';
        break;
      case '5':
        type = 'dir'; // any data a directory header claims was skipped above
        break;
      default:
        throw new AppError(
          'ARCHIVE_UNSAFE_ENTRY',
          `${label} entry ${shown} is a ${TYPE_NAMES[typeflag] ?? `tar entry of type "${typeflag}"`}; a key archive holds only files and directories`,
          'Use the archive exactly as fioctl wrote it; do not add links or special files.',
        );
    }
    checkName(name, label);
    const normal = normalizeName(name);
    const earlier = seen.get(normal);
    if (earlier !== undefined) {
      throw invalid(
        `has two entries for the same path: ${JSON.stringify(earlier)} and ${shown}` +
          ' (tools disagree on which one wins, so the archive is refused)',
      );
    }
    seen.set(normal, name);
    if (entries.length >= limits.maxEntries) {
      throw new AppError(
        'ARCHIVE_TOO_MANY_ENTRIES',
        `${label} has more than ${limits.maxEntries} entries`,
        'A key archive holds a few key files; choose the archive fioctl wrote.',
      );
    }
    const meta: EntryMeta = {
      name,
      mode: numeric(h, 100, 8, where, invalid) & 0o7777,
      mtime: pax.mtime ?? numeric(h, 136, 12, where, invalid),
      uid: pax.uid ?? numeric(h, 108, 8, where, invalid),
      gid: pax.gid ?? numeric(h, 116, 8, where, invalid),
      uname: pax.uname ?? (isUstar || isGnu ? decodeName(cstring(h, 265, 32), where, invalid) : ''),
      gname: pax.gname ?? (isUstar || isGnu ? decodeName(cstring(h, 297, 32), where, invalid) : ''),
    };
    entries.push(type === 'dir' ? { type, ...meta } : fileEntry(meta, data.slice()));
    pax = {};
    longName = undefined;
  }
  // No end-of-archive marker: accepted at a header boundary, as Go's archive/tar and Python do.
  if (Object.keys(pax).length > 0 || longName !== undefined) throw invalid('ends after an extended header without its entry');
  return entries;
}

const TYPE_NAMES: Record<string, string> = {
  '1': 'hard link',
  '2': 'symbolic link',
  '3': 'character device',
  '4': 'block device',
  '6': 'FIFO (named pipe)',
  S: 'GNU sparse file',
  D: 'GNU dump directory',
  M: 'GNU multi-volume continuation',
  V: 'volume label',
};

/** A file entry whose bytes do not show in JSON.stringify, util.inspect or Object.keys. */
export function fileEntry(meta: EntryMeta, data: Uint8Array): ArchiveFileEntry {
  const e = { type: 'file' as const, ...meta, size: data.length };
  Object.defineProperty(e, 'data', { value: data, enumerable: false, writable: false, configurable: false });
  return e as ArchiveFileEntry;
}

/** Refuses what an extracting tool could write outside its target folder (invariant 6). */
export function checkName(name: string, label: string): void {
  const unsafe = (why: string): AppError =>
    new AppError(
      'ARCHIVE_UNSAFE_ENTRY',
      `${label} entry ${JSON.stringify(name)} ${why}`,
      'Use the archive exactly as fioctl wrote it (names like tufrepo/keys/…).',
    );
  if (name === '') throw new AppError('ARCHIVE_INVALID', `${label} has an entry with an empty name`, NOT_AN_ARCHIVE_HINT);
  if (name.includes('\0')) throw unsafe('has a NUL character in its name');
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) throw unsafe('has an absolute path');
  if (name.split(/[\\/]/).includes('..')) throw unsafe('has a ".." component in its path');
}

/** The path an extracting tool would write: `./a//b/` and `a/b` are the same file. */
export function normalizeName(name: string): string {
  return (
    name
      .split('/')
      .filter((p) => p !== '' && p !== '.')
      .join('/') || '.'
  );
}

function checksumOk(h: Uint8Array): boolean {
  const stored = parseOctal(h.subarray(148, 156));
  if (stored === undefined) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
    unsigned += b;
    signed += b >= 0x80 ? b - 0x100 : b;
  }
  // Some old tars summed signed chars; every reader accepts both.
  return stored === unsigned || stored === signed;
}

/** Octal digits between optional spaces/NULs; undefined if anything else is there. */
function parseOctal(field: Uint8Array): number | undefined {
  const s = latin1(field).replace(/^[ \0]+|[ \0]+$/g, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) return undefined;
  return parseInt(s, 8);
}

/** A numeric header field: octal, or GNU base-256 (high bit of the first byte set). */
function numeric(h: Uint8Array, at: number, len: number, where: string, invalid: (w: string) => AppError): number {
  const field = h.subarray(at, at + len);
  const first = field[0] ?? 0;
  if (first & 0x80) {
    if (first === 0xff) throw invalid(`has a negative number in the tar header of ${where}`);
    let v = first & 0x7f;
    for (const b of field.subarray(1)) v = v * 256 + b;
    if (!Number.isSafeInteger(v)) throw invalid(`has an out-of-range number in the tar header of ${where}`);
    return v;
  }
  const v = parseOctal(field);
  if (v === undefined) throw invalid(`is corrupt: a number in the tar header of ${where} is not octal`);
  return v;
}

function parsePax(data: Uint8Array, where: string, invalid: (w: string) => AppError): PaxOverrides {
  const out: PaxOverrides = {};
  const bad = (): AppError => invalid(`has a malformed pax extended header before ${where}`);
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // NUL padding some writers leave
    const space = data.indexOf(0x20, pos);
    if (space < 0 || space - pos > 12) throw bad();
    const lenText = latin1(data.subarray(pos, space));
    if (!/^[1-9][0-9]*$/.test(lenText)) throw bad();
    const end = pos + Number(lenText);
    if (end > data.length || end <= space + 1 || data[end - 1] !== 0x0a) throw bad();
    let record: string;
    try {
      record = utf8.decode(data.subarray(space + 1, end - 1));
    } catch {
      throw bad();
    }
    const eq = record.indexOf('=');
    if (eq <= 0) throw bad();
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    const int = (): number => {
      if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value))) throw bad();
      return Number(value);
    };
    switch (key) {
      case 'path':
        out.path = value;
        break;
      case 'size':
        out.size = int();
        break;
      case 'uid':
        out.uid = int();
        break;
      case 'gid':
        out.gid = int();
        break;
      case 'uname':
        out.uname = value;
        break;
      case 'gname':
        out.gname = value;
        break;
      case 'mtime': {
        const m = Number(value);
        if (!/^-?[0-9]+(\.[0-9]+)?$/.test(value) || !Number.isFinite(m)) throw bad();
        out.mtime = m;
        break;
      }
      default:
        break; // atime, ctime, linkpath, SCHILY.*, LIBARCHIVE.*: not needed to keep a key file
    }
    pos = end;
  }
  return out;
}

function nulIndex(b: Uint8Array): number {
  const i = b.indexOf(0);
  return i < 0 ? b.length : i;
}

function cstring(h: Uint8Array, at: number, len: number): Uint8Array {
  const f = h.subarray(at, at + len);
  return f.subarray(0, nulIndex(f));
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
}

function decodeName(b: Uint8Array, where: string, invalid: (w: string) => AppError): string {
  try {
    return utf8.decode(b);
  } catch {
    // Names are written back exactly; one we could not decode we could not write back.
    throw invalid(`has a name that is not UTF-8 (${where})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Keys (foundries-api.md §4.1, §4.4)

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
      const key = classifyPair(e, sec, privateKeys);
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

function classifyPair(pub: ArchiveFileEntry, sec: ArchiveFileEntry | undefined, privateKeys: Map<string, PrivateKey>): ArchiveKey {
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
