import { createHash, randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors.js';

/**
 * Writes `data` to `file` atomically: a temp file beside it (created exclusively, mode 0600 unless
 * given), fsync, rename, fsync of the directory. A crash leaves either the old file or the new one,
 * never half of one. Refuses to replace an existing file unless `overwrite` is set.
 */
export async function writeFileAtomic(
  file: string,
  data: Uint8Array | string,
  opts: { mode?: number; overwrite?: boolean } = {},
): Promise<void> {
  const mode = opts.mode ?? 0o600;
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  if (!opts.overwrite && (await exists(file))) {
    throw new AppError('FILE_EXISTS', `${file} already exists.`, 'Choose another output path, or remove the file after making sure nothing in it is needed.');
  }
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    if (!opts.overwrite && (await exists(file))) {
      throw new AppError('FILE_EXISTS', `${file} already exists.`, 'Choose another output path.');
    }
    await fs.rename(tmp, file);
    await fs.chmod(file, mode);
    await fsyncDir(dir);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    if (e instanceof AppError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new AppError(
      'FILE_WRITE_FAILED',
      `Could not write ${file}: ${err.code ?? 'error'} (${err.message.replace(/'.*'/, '').trim()}).`,
      'Check that the folder exists, is writable and has free space; nothing was changed.',
      { cause: e },
    );
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  let h: fs.FileHandle | undefined;
  try {
    h = await fs.open(dir, constants.O_RDONLY);
    await h.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    await h?.close().catch(() => undefined);
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Reads a file with a size limit, naming the file in errors. */
export async function readFileLimited(file: string, limit: number, what = 'file'): Promise<Buffer> {
  let st;
  try {
    st = await fs.stat(file);
  } catch {
    throw new AppError('FILE_NOT_FOUND', `Cannot read ${what} ${file}: no such file.`, 'Check the path and try again.');
  }
  if (!st.isFile()) {
    throw new AppError('FILE_NOT_FOUND', `${file} is not a regular file.`, `Give the path of the ${what} itself.`);
  }
  if (st.size > limit) {
    throw new AppError(
      what === 'root metadata' ? 'ROOT_TOO_LARGE' : 'BAD_REQUEST',
      `${file} is ${st.size} bytes, more than the ${limit}-byte limit for a ${what}.`,
      `Check that this is the right ${what}.`,
    );
  }
  return fs.readFile(file);
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
