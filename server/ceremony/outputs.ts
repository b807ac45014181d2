/**
 * Every output path is checked before any key is generated (invariant 2: inputs are never
 * modified): an output equal to an input, a folder, a missing parent folder, or an existing file
 * that may not be overwritten is refused with exit 2 before anything is written.
 */
import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors.js';

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    try {
      return path.join(realpathSync(path.dirname(p)), path.basename(p));
    } catch {
      return path.resolve(p);
    }
  }
}

export interface OutputSpec {
  path: string;
  /** What the file is, for the message: "the new key archive (--out)". */
  what: string;
  /** Whether an existing file may be replaced (never an input, never a folder). */
  overwrite: boolean;
}

export function checkOutputs(inputs: string[], outputs: OutputSpec[]): void {
  const ins = new Map(inputs.map((i) => [real(i), i]));
  const seen = new Map<string, string>();
  for (const o of outputs) {
    const r = real(o.path);
    const input = ins.get(r);
    if (input !== undefined) {
      throw new AppError('BAD_USAGE', `${o.what} ${o.path} is also an input (${input}); an input is never modified.`, 'Choose a new output path; keep the input file as it is.');
    }
    const other = seen.get(r);
    if (other !== undefined) throw new AppError('BAD_USAGE', `${o.what} and ${other} are the same file ${o.path}.`, 'Give each output its own path.');
    seen.set(r, o.what);
    let st;
    try {
      st = statSync(o.path);
    } catch {
      st = undefined;
    }
    if (st?.isDirectory()) throw new AppError('BAD_USAGE', `${o.what} ${o.path} is a folder.`, 'Give a file path inside the folder.');
    if (st && !o.overwrite) {
      throw new AppError('FILE_EXISTS', `${o.what} ${o.path} already exists.`, 'Choose a new path (nothing was written).');
    }
    let parent;
    try {
      parent = statSync(path.dirname(path.resolve(o.path)));
    } catch {
      parent = undefined;
    }
    if (!parent?.isDirectory()) {
      throw new AppError('FILE_WRITE_FAILED', `Cannot write ${o.what} ${o.path}: ${path.dirname(path.resolve(o.path))} is not an existing folder.`, 'Create the folder first, or choose another path; nothing was written.');
    }
  }
}
