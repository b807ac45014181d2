/**
 * The work-folder lock: `<work>/lock`, created with O_EXCL, holding the pid, host, command and start
 * time of the one process allowed to change the folder's ceremonies. Removed when that process
 * releases it or exits. A lock whose pid is not alive on this host is stale and taken over (the
 * takeover goes into the current ceremony's event log). Read-only opens (`status`) take no lock.
 * Within one process the lock is re-entrant (a count), so a test running server and CLI in one
 * process does not lock itself out.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, fsyncSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { AppError } from '../errors.js';
import { appendEvent } from './log.js';
import { CeremonyStore } from './store.js';

export const LOCK_FILE = 'lock';

export interface LockInfo {
  pid: number;
  host: string;
  command: string;
  since: string;
  token: string;
}

interface Held {
  info: LockInfo;
  count: number;
}

const held = new Map<string, Held>();
let exitHookInstalled = false;

function readLock(file: string): LockInfo | 'missing' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable';
  }
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.command === 'string' && typeof v.since === 'string' && typeof v.token === 'string') {
      return { pid: v.pid, host: v.host, command: v.command, since: v.since, token: v.token };
    }
  } catch {
    // fall through
  }
  return 'unreadable';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function createExclusive(file: string, info: LockInfo): boolean {
  let fd: number;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new AppError('FILE_WRITE_FAILED', `Cannot create the work-folder lock ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'}).`, 'Check that the work folder is writable.', { cause: e });
  }
  try {
    writeSync(fd, JSON.stringify(info) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

function removeIfOurs(file: string, token: string): void {
  const cur = readLock(file);
  if (typeof cur === 'object' && cur.token === token) {
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [file, h] of held) removeIfOurs(file, h.info.token);
    held.clear();
  });
}

function refuse(file: string, info: LockInfo | 'unreadable'): AppError {
  if (info === 'unreadable') {
    return new AppError('WORK_LOCKED', `The work folder is locked by ${file}, which cannot be read.`, `If no other tuf-rotate runs on this work folder, delete ${file} and try again.`);
  }
  const where = info.host === hostname() ? `pid ${info.pid}` : `pid ${info.pid} on ${info.host}`;
  return new AppError(
    'WORK_LOCKED',
    `The work folder ${path.dirname(file)} is in use by another tuf-rotate (${where}, "${info.command}", since ${info.since}).`,
    info.host === hostname()
      ? `Wait for it to finish or stop it (a running "serve" stops with Ctrl-C), or use the page it serves; tuf-rotate status only reads and works meanwhile.`
      : `Stop it on ${info.host}; if it is surely gone, delete ${file}.`,
  );
}

/** Takes the lock of `workDir` for `command` (or refuses with WORK_LOCKED). Returns its release. */
export async function lockWork(workDir: string, command: string, o: { now?: () => Date; who?: string } = {}): Promise<() => void> {
  const file = path.join(workDir, LOCK_FILE);
  const mine = held.get(file);
  if (mine) {
    mine.count++;
    return once(() => release(file));
  }
  const now = o.now ?? (() => new Date());
  const info: LockInfo = { pid: process.pid, host: hostname(), command, since: now().toISOString(), token: randomBytes(8).toString('hex') };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (createExclusive(file, info)) {
      held.set(file, { info, count: 1 });
      installExitHook();
      return once(() => release(file));
    }
    const other = readLock(file);
    if (other === 'missing') continue;
    if (other === 'unreadable' || other.host !== hostname() || alive(other.pid)) throw refuse(file, other);
    // Stale: move it aside under a private name, and check it is the one we judged (not a new lock).
    const aside = `${file}.stale-${info.token}`;
    try {
      renameSync(file, aside);
    } catch {
      continue;
    }
    const moved = readLock(aside);
    if (typeof moved !== 'object' || moved.token !== other.token) {
      // Another process took it over in between: put its lock back and refuse.
      try {
        linkSync(aside, file);
      } catch {
        // it made yet another one; that one stands
      }
      unlinkSync(aside);
      throw refuse(file, typeof moved === 'object' ? moved : 'unreadable');
    }
    unlinkSync(aside);
    if (!createExclusive(file, info)) continue;
    held.set(file, { info, count: 1 });
    installExitHook();
    await logTakeover(workDir, other, info, o.who ?? 'operator', now());
    return once(() => release(file));
  }
  const last = readLock(file);
  throw refuse(file, typeof last === 'object' ? last : 'unreadable');
}

async function logTakeover(workDir: string, stale: LockInfo, info: LockInfo, who: string, at: Date): Promise<void> {
  const store = new CeremonyStore(workDir);
  const id = await store.currentId();
  if (id === undefined || !/^[0-9A-Za-z-]{1,64}$/.test(id)) return;
  try {
    await appendEvent(store.dir(id), {
      at,
      who,
      what: 'work-lock-taken-over',
      data: { stalePid: stale.pid, staleCommand: stale.command, staleSince: stale.since, pid: info.pid, command: info.command },
    });
  } catch {
    // No ceremony folder to log into: the takeover stands.
  }
}

function release(file: string): void {
  const h = held.get(file);
  if (!h) return;
  if (--h.count > 0) return;
  held.delete(file);
  removeIfOurs(file, h.info.token);
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    f();
  };
}
