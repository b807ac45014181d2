/**
 * The work folder: where ceremonies (and, by default, new key archives) live. Explicit: `--work
 * DIR`, else a per-user data folder ($XDG_DATA_HOME/tuf-rotate or ~/.local/share/tuf-rotate);
 * never the current folder, and never inside a git checkout unless `--work` asks for it.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors.js';

/** The nearest folder at or above `dir` that holds `.git`, if any. */
export function gitCheckoutAbove(dir: string): string | undefined {
  let d = path.resolve(dir);
  for (;;) {
    if (existsSync(path.join(d, '.git'))) return d;
    const up = path.dirname(d);
    if (up === d) return undefined;
    d = up;
  }
}

export function defaultWorkDir(env: Record<string, string | undefined>): string {
  const xdg = env['XDG_DATA_HOME'];
  if (xdg !== undefined && path.isAbsolute(xdg)) return path.join(xdg, 'tuf-rotate');
  const home = env['HOME'];
  if (home === undefined || !path.isAbsolute(home)) {
    throw new AppError('BAD_USAGE', 'There is no per-user data folder for the work folder (neither XDG_DATA_HOME nor HOME is set).', 'Pass --work DIR: the folder where tuf-rotate keeps its ceremonies and new key archives.');
  }
  return path.join(home, '.local', 'share', 'tuf-rotate');
}

/** The work folder to use (created 0700 if missing). */
export async function resolveWorkDir(o: { work?: string | undefined; env: Record<string, string | undefined>; cwd: string }): Promise<string> {
  const dir = o.work !== undefined ? path.resolve(o.cwd, o.work) : defaultWorkDir(o.env);
  if (o.work === undefined) {
    const git = gitCheckoutAbove(dir);
    if (git !== undefined) {
      throw new AppError('BAD_USAGE', `The default work folder ${dir} is inside the git checkout ${git}; key archives must not land in a checkout.`, 'Pass --work DIR with a folder outside any git checkout (or inside one, if you mean it).');
    }
  }
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new AppError('FILE_WRITE_FAILED', `Cannot use ${dir} as the work folder (${(e as NodeJS.ErrnoException).code ?? 'error'}).`, 'Pass --work DIR with a writable folder.', { cause: e });
  }
  const st = await fs.stat(dir);
  if (!st.isDirectory()) throw new AppError('BAD_USAGE', `The work folder ${dir} is not a folder.`, 'Pass --work DIR with a folder.');
  return dir;
}
