/**
 * The ceremonies of a work folder: `<work>/ceremonies/<id>/ceremony.json` (+ `events.jsonl`), and
 * `<work>/current.json` naming the one open ceremony (one at a time per work folder). Every file is
 * written atomically (temp file, fsync, rename), mode 0600. Nothing secret is ever written here.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors.js';
import { readFileLimited, writeFileAtomic } from '../util/fs-atomic.js';
import type { CeremonyData } from './ceremony.js';

export const CEREMONIES_DIR = 'ceremonies';
export const CEREMONY_FILE = 'ceremony.json';
export const CURRENT_FILE = 'current.json';
const MAX_CEREMONY_BYTES = 8 * 1024 * 1024;

export class CeremonyStore {
  constructor(readonly workDir: string) {}

  dir(id: string): string {
    return path.join(this.workDir, CEREMONIES_DIR, id);
  }

  /** A new ceremony id: sortable by time, unique. */
  newId(now: Date): string {
    return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
  }

  async create(data: CeremonyData): Promise<void> {
    await fs.mkdir(this.dir(data.id), { recursive: true, mode: 0o700 });
    await this.save(data);
    await this.setCurrent(data.id);
  }

  async save(data: CeremonyData): Promise<void> {
    await writeFileAtomic(path.join(this.dir(data.id), CEREMONY_FILE), JSON.stringify(data, null, 2) + '\n', { mode: 0o600, overwrite: true });
  }

  async load(id: string): Promise<CeremonyData> {
    if (!/^[0-9A-Za-z-]{1,64}$/.test(id)) throw new AppError('BAD_USAGE', `"${id}" is not a ceremony id.`, 'Run tuf-rotate status to see the ceremonies of the work folder.');
    const file = path.join(this.dir(id), CEREMONY_FILE);
    const data = JSON.parse(new TextDecoder().decode(await readFileLimited(file, MAX_CEREMONY_BYTES, 'ceremony'))) as CeremonyData;
    if (data.format !== 1 || data.id !== id) {
      throw new AppError('BAD_USAGE', `${file} is not a tuf-rotate ceremony.`, 'Point --work at the folder tuf-rotate printed at start.');
    }
    return data;
  }

  async currentId(): Promise<string | undefined> {
    try {
      const v = JSON.parse(await fs.readFile(path.join(this.workDir, CURRENT_FILE), 'utf8')) as { id?: unknown };
      return typeof v.id === 'string' ? v.id : undefined;
    } catch {
      return undefined;
    }
  }

  /** The ceremony `current.json` names, if any (and readable). */
  async current(): Promise<CeremonyData | undefined> {
    const id = await this.currentId();
    if (id === undefined) return undefined;
    try {
      return await this.load(id);
    } catch {
      return undefined;
    }
  }

  async setCurrent(id: string): Promise<void> {
    await writeFileAtomic(path.join(this.workDir, CURRENT_FILE), JSON.stringify({ id }) + '\n', { mode: 0o600, overwrite: true });
  }

  /** Every ceremony of the work folder, newest first. */
  async list(): Promise<CeremonyData[]> {
    let names: string[];
    try {
      names = await fs.readdir(path.join(this.workDir, CEREMONIES_DIR));
    } catch {
      return [];
    }
    const out: CeremonyData[] = [];
    for (const n of names.sort().reverse()) {
      try {
        out.push(await this.load(n));
      } catch {
        // Not a ceremony folder: skipped.
      }
    }
    return out;
  }
}
