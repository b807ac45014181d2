/**
 * Writes a key archive: every entry of the archive read, in order and byte for byte, plus the new
 * key pair; ustar + gzip (readable by GNU tar, Python's tarfile and Go's archive/tar, i.e. fioctl).
 * Unlike fioctl we keep directory entries and every entry's mode, owner and time.
 *
 * The file is written as fioctl does, through `<path>.tmp` (foundries-api.md §3.a step 6), which is
 * never overwritten: it may hold the key of a failed earlier rotation. Then fsync, rename, fsync the
 * folder, mode 0600 (product.md invariants 1 and 2).
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { copyFile, link, lstat, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { AppError } from '../errors.js';
import { samePublicKey } from '../tuf/public-key.js';
import type { PublicKeyInfo, Signer } from '../tuf/model.js';
import { LocalSigner, verifySignature } from '../tuf/sign.js';
import { type ArchiveEntry, checkName, fileEntry, normalizeName } from './tar.js';
import { type KeyArchive, readKeyArchive } from './read.js';
import { shortKeyId } from './layout.js';

const gzipAsync = promisify(gzip);

export interface ArchiveAddition {
  name: string;
  data: Uint8Array;
}

export interface WriteOptions {
  /** Replace an existing file at `path` (the user confirmed it). Default false. */
  overwrite?: boolean;
  /** With overwrite: keep the replaced file as `<path>.bak-<UTC timestamp>`. Default true. */
  backup?: boolean;
  /** The time stamped on added entries and the backup name. Default now. */
  now?: Date;
}

export interface WriteResult {
  path: string;
  /** SHA-256 of the file written, lowercase hex. */
  sha256: string;
  /** Its length in bytes. */
  bytes: number;
  /** Where the replaced file went, when one was replaced and backed up. */
  backupPath?: string;
}

// ---------------------------------------------------------------------------------------------
// Bytes

/**
 * The `.tgz` bytes: the archive's entries unchanged, then the additions as regular files
 * (mode 0600, uid/gid 0, mtime now). Refuses an addition whose path is already in the archive.
 */
export async function buildArchiveBytes(archive: KeyArchive, additions: readonly ArchiveAddition[], now = new Date()): Promise<Uint8Array> {
  const label = archive.name ?? 'the key archive';
  const taken = new Set(archive.entries.map((e) => normalizeName(e.name)));
  const mtime = Math.floor(now.getTime() / 1000);
  const added: ArchiveEntry[] = [];
  for (const a of additions) {
    checkName(a.name, 'the new archive');
    const normal = normalizeName(a.name);
    if (taken.has(normal) || a.name.endsWith('/')) {
      throw new AppError(
        'ARCHIVE_INVALID',
        `${label} already has an entry ${JSON.stringify(a.name)}; an existing key file is never replaced`,
        'Write the new key under a new name (fioctl uses tufrepo/keys/fioctl-<role>-<keyid>).',
      );
    }
    taken.add(normal);
    const meta = { name: a.name, mode: 0o600, mtime, uid: 0, gid: 0, uname: '', gname: '' };
    added.push(fileEntry(meta, a.data));
  }
  const parts: Uint8Array[] = [];
  for (const e of [...archive.entries, ...added]) {
    const data = e.type === 'file' ? e.data : new Uint8Array(0);
    parts.push(...headerBlocks(e, data.length), data, new Uint8Array(padding(data.length)));
  }
  parts.push(new Uint8Array(2 * BLOCK)); // end-of-archive marker
  const tar = Buffer.concat(parts);
  return new Uint8Array(await gzipAsync(tar));
}

const BLOCK = 512;
const enc = new TextEncoder();
const MAX_OCTAL_8 = 0o7777777; // 7 digits + NUL
const MAX_OCTAL_12 = 0o77777777777; // 11 digits + NUL

function padding(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

/** Splits a long name into ustar's prefix (≤ 155 bytes) and name (≤ 100 bytes) at a slash. */
function splitUstarName(name: Uint8Array): { prefix: Uint8Array; name: Uint8Array } | undefined {
  if (name.length <= 100) return { prefix: new Uint8Array(0), name };
  for (let i = Math.min(name.length - 1, 155); i > 0; i--) {
    if (name[i] === 0x2f && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
      return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
    }
  }
  return undefined;
}

/** The ustar header of an entry, preceded by a pax header for whatever ustar cannot hold. */
function headerBlocks(e: ArchiveEntry, size: number): Uint8Array[] {
  const pax: [string, string][] = [];
  const nameBytes = enc.encode(e.name);
  const split = splitUstarName(nameBytes);
  if (split === undefined) pax.push(['path', e.name]);
  const fitsId = (n: number): boolean => Number.isSafeInteger(n) && n >= 0 && n <= MAX_OCTAL_8;
  if (!fitsId(e.uid)) pax.push(['uid', String(e.uid)]);
  if (!fitsId(e.gid)) pax.push(['gid', String(e.gid)]);
  if (!Number.isInteger(e.mtime) || e.mtime < 0 || e.mtime > MAX_OCTAL_12) pax.push(['mtime', String(e.mtime)]);
  if (enc.encode(e.uname).length > 31) pax.push(['uname', e.uname]);
  if (enc.encode(e.gname).length > 31) pax.push(['gname', e.gname]);

  const blocks: Uint8Array[] = [];
  if (pax.length > 0) {
    const body = enc.encode(pax.map(([k, v]) => paxRecord(k, v)).join(''));
    const paxName = enc.encode(`PaxHeaders/${basename(e.name)}`).subarray(0, 100);
    blocks.push(
      ustarHeader({ name: paxName, prefix: new Uint8Array(0), type: 'x', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: body.length, uname: '', gname: '' }),
      body,
      new Uint8Array(padding(body.length)),
    );
  }
  const clamp = (n: number, max: number): number => (Number.isInteger(n) && n >= 0 && n <= max ? n : 0);
  blocks.push(
    ustarHeader({
      name: split?.name ?? nameBytes.subarray(0, 100),
      prefix: split?.prefix ?? new Uint8Array(0),
      type: e.type === 'dir' ? '5' : '0',
      mode: e.mode & 0o7777,
      uid: clamp(e.uid, MAX_OCTAL_8),
      gid: clamp(e.gid, MAX_OCTAL_8),
      mtime: clamp(Math.floor(e.mtime), MAX_OCTAL_12),
      size,
      uname: enc.encode(e.uname).length > 31 ? '' : e.uname,
      gname: enc.encode(e.gname).length > 31 ? '' : e.gname,
    }),
  );
  return blocks;
}

/** `"<len> <key>=<value>\n"` where len counts the whole record, itself included. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  const restLen = enc.encode(rest).length;
  let len = restLen + 1;
  while (String(len).length + restLen !== len) len = String(len).length + restLen;
  return `${len}${rest}`;
}

interface HeaderFields {
  name: Uint8Array;
  prefix: Uint8Array;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  uname: string;
  gname: string;
}

function ustarHeader(f: HeaderFields): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const octal = (at: number, len: number, n: number): void => {
    h.set(enc.encode(n.toString(8).padStart(len - 1, '0')), at); // digits, then the NUL already there
  };
  h.set(f.name, 0);
  octal(100, 8, f.mode);
  octal(108, 8, f.uid);
  octal(116, 8, f.gid);
  octal(124, 12, f.size);
  octal(136, 12, f.mtime);
  h.fill(0x20, 148, 156); // checksum counts as spaces while summing
  h[156] = f.type.charCodeAt(0);
  h.set(enc.encode('ustar\u000000'), 257);
  h.set(enc.encode(f.uname), 265);
  h.set(enc.encode(f.gname), 297);
  octal(329, 8, 0);
  octal(337, 8, 0);
  h.set(f.prefix, 345);
  let sum = 0;
  for (const b of h) sum += b;
  h.set(enc.encode(`${sum.toString(8).padStart(6, '0')}\u0000 `), 148);
  return h;
}

// ---------------------------------------------------------------------------------------------
// File

function isErrno(e: unknown, ...codes: string[]): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && codes.includes(code);
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
}

function writeFailed(path: string, e: unknown): AppError {
  return new AppError(
    'FILE_WRITE_FAILED',
    `could not write the key archive ${path}`,
    'Check that the folder exists, is writable and has free space, then try again.',
    { cause: e },
  );
}

function fileExists(path: string): AppError {
  return new AppError(
    'FILE_EXISTS',
    `${path} already exists`,
    "Choose a new output path, or confirm overwriting (a backup of the old file is kept). Make sure it is not another Factory's keys.",
  );
}

/** `20260823T101500Z`: sortable, and valid in file names everywhere. */
function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** Makes `to` name the same file as `from`, failing if `to` exists (hard link, or an exclusive copy). */
async function placeExclusive(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (e) {
    if (isErrno(e, 'EEXIST')) throw e;
    await copyFile(from, to, fsConstants.COPYFILE_EXCL); // file systems without hard links
  }
}

async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (e) {
    // Some platforms and file systems cannot fsync a folder; the file itself was synced.
    if (!isErrno(e, 'EISDIR', 'EINVAL', 'EPERM', 'EBADF', 'ENOTSUP')) throw e;
  } finally {
    await fh?.close();
  }
}

/**
 * Writes the archive with the additions to `path` atomically and durably, mode 0600.
 * `<path>.tmp` existing → ARCHIVE_TMP_EXISTS (left alone); `path` existing without `overwrite` →
 * FILE_EXISTS (nothing changed).
 */
export async function writeKeyArchive(
  path: string,
  archive: KeyArchive,
  additions: readonly ArchiveAddition[],
  opts: WriteOptions = {},
): Promise<WriteResult> {
  const now = opts.now ?? new Date();
  const overwrite = opts.overwrite ?? false;
  const backup = opts.backup ?? true;
  const bytes = await buildArchiveBytes(archive, additions, now);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const tmp = `${path}.tmp`;

  let fh;
  try {
    fh = await open(tmp, 'wx', 0o600);
  } catch (e) {
    if (isErrno(e, 'EEXIST')) {
      throw new AppError(
        'ARCHIVE_TMP_EXISTS',
        `${tmp} already exists; it may be from an earlier key rotation that failed and hold a private key`,
        'Move that file somewhere safe (do not delete it before checking it), then run the rotation again.',
      );
    }
    throw writeFailed(path, e);
  }
  let tmpIsOurs = true;
  try {
    try {
      if (!overwrite && (await exists(path))) throw fileExists(path);
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    let backupPath: string | undefined;
    if (!overwrite) {
      // link() fails if path appeared meanwhile: never replaces a file nobody confirmed replacing.
      try {
        await placeExclusive(tmp, path);
      } catch (e) {
        if (isErrno(e, 'EEXIST')) throw fileExists(path);
        throw e;
      }
      await unlink(tmp);
      tmpIsOurs = false;
    } else {
      if (backup && (await exists(path))) {
        backupPath = `${path}.bak-${stamp(now)}`;
        try {
          await placeExclusive(path, backupPath);
        } catch (e) {
          if (isErrno(e, 'EEXIST')) {
            throw new AppError('FILE_EXISTS', `the backup path ${backupPath} already exists`, 'Wait a second and try again, or move the old backup away.');
          }
          throw e;
        }
      }
      await rename(tmp, path); // atomic replace: path is the old file or the new one, never half
      tmpIsOurs = false;
    }
    await fsyncDir(dirname(path));
    const done = await open(path, 'r');
    try {
      await done.chmod(0o600);
      await done.sync(); // also covers the copy made where hard links are not available
    } finally {
      await done.close();
    }
    return { path, sha256, bytes: bytes.length, ...(backupPath === undefined ? {} : { backupPath }) };
  } catch (e) {
    // Nothing is published before the archive is saved, so the new key in our tmp is not in use yet.
    if (tmpIsOurs) await unlink(tmp).catch(() => undefined);
    if (e instanceof AppError) throw e;
    throw writeFailed(path, e);
  }
}

// ---------------------------------------------------------------------------------------------
// Read back (invariant 1: the keys are safe before anything is published)

/**
 * Re-reads `path` from disk and proves it: same SHA-256 as written, parses as an archive, holds an
 * `ok` pair at `proof.base` whose public key is `proof.publicKey`, and that private key signs a
 * random challenge that verifies against `proof.publicKey`. Any failure → ARCHIVE_READBACK_FAILED.
 */
export async function readBackAndProve(
  path: string,
  expectSha256: string,
  proof: { keyid: string; publicKey: PublicKeyInfo; base: string; token?: { uri: string; signer: Signer } },
): Promise<void> {
  const what = `the new key ${shortKeyId(proof.keyid)}`;
  const fail = (why: string, cause?: unknown): AppError =>
    new AppError(
      'ARCHIVE_READBACK_FAILED',
      `reading back ${path} failed: ${why}`,
      'Nothing was published. Check the disk and the output folder, then run the rotation again.',
      cause === undefined ? undefined : { cause },
    );
  let bytes: Uint8Array;
  try {
    const st = await lstat(path);
    if (!st.isFile()) throw fail('it is not a regular file');
    if ((st.mode & 0o077) !== 0) throw fail(`its mode is ${(st.mode & 0o777).toString(8)}, not 600`);
    bytes = await readFile(path);
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw fail('it cannot be read', e);
  }
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== expectSha256) throw fail('its SHA-256 differs from what was written');
  let archive: KeyArchive;
  try {
    archive = await readKeyArchive(bytes, { name: path });
  } catch (e) {
    throw fail(`it does not parse as a key archive (${e instanceof AppError ? e.code : 'error'})`, e);
  }
  const key = archive.keys.find((k) => k.base === proof.base && k.pubName !== undefined);
  if (key === undefined) throw fail(`${proof.base}.pub is not in it`);
  if (key.status !== (proof.token ? 'token' : 'ok')) throw fail(`the pair ${proof.base} is not usable (${key.status})`);
  if (key.publicKey === undefined || !samePublicKey(key.publicKey, proof.publicKey)) {
    throw fail(`${proof.base}.pub is not ${what}`);
  }
  // A token key: the archive must name the token key that signed, and that key must still sign.
  if (proof.token && key.tokenUri !== proof.token.uri) throw fail(`${proof.base} does not name the token key ${proof.token.uri}`);
  const priv = archive.privateKey(proof.base);
  if (priv === undefined && !proof.token) throw fail(`${proof.base}.sec holds no usable private key`);
  const signer: Signer | undefined = proof.token?.signer ?? (priv ? new LocalSigner(priv) : undefined);
  if (signer === undefined) throw fail(`${proof.base} has no key to prove`);
  const challenge = randomBytes(32);
  let ok: boolean;
  try {
    const sig = await signer.sign(challenge);
    ok = verifySignature(proof.publicKey, challenge, sig);
  } catch (e) {
    throw fail(`the private key of ${what} cannot sign`, e);
  }
  if (!ok) throw fail(`a signature by ${proof.base}.sec does not verify with ${what}`);
}
