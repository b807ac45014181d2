/**
 * The tar layer of a key archive: ustar (POSIX.1-1988), pax extended headers (POSIX.1-2001), GNU
 * long names and old v7 headers, parsed in memory with every limit of product.md invariant 6
 * checked as the parser goes. Names an extracting tool could write outside its folder are refused.
 * The entries' bytes are kept as they are; archive/read.ts decides what is a key.
 */
import { AppError } from '../errors.js';

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

export interface EntryMeta {
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

/** The hint of every "this is not a key archive" error. */
export const NOT_AN_ARCHIVE_HINT = 'Choose the offline key archive (.tgz) fioctl wrote, unchanged; re-copy it if it was truncated.';

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

export function parseTar(tar: Uint8Array, limits: ArchiveLimits, label: string): ArchiveEntry[] {
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
