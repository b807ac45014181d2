/** Finding the ceremony a command means: the work folder's current one, or the newest one of a target. */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Backend } from '../backends/backend.js';
import { AppError } from '../errors.js';
import { Ceremony } from './ceremony.js';
import { reconcile, refOf, sameTarget } from './reconcile.js';
import type { Reconciled } from './reconcile.js';
import { openCeremony } from './steps.js';
import type { OpenOptions } from './steps.js';
import { CeremonyStore } from './store.js';
import { defaultWorkDir } from './workdir.js';

/** A work folder that must already exist (status and publish never create one). */
export function existingWorkDir(given: string | undefined, env: Record<string, string | undefined>, cwd: string): string {
  const dir = given !== undefined ? path.resolve(cwd, given) : defaultWorkDir(env);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new AppError('FILE_NOT_FOUND', `The work folder ${dir} does not exist.`, 'Give the folder tuf-rotate printed as its work folder (--work DIR or the WORKDIR argument).');
  }
  return dir;
}

/**
 * The ceremony for `backend` in the work folder (the current one if it is for that target, else
 * the newest one for it), reconciled; or undefined when no ceremony of this folder touched it.
 * Without a backend: the current ceremony.
 */
export async function findCeremony(work: string, o: OpenOptions & { backend?: Backend; id?: string }): Promise<{ ceremony: Ceremony; reconciled: Reconciled } | undefined> {
  const store = new CeremonyStore(work);
  if (o.id !== undefined || !o.backend) return openCeremony(store, o);
  const ref = refOf(o.backend);
  const current = await store.current();
  if (current && sameTarget(current.target.ref, ref)) return openCeremony(store, { ...o, id: current.id });
  const match = (await store.list()).find((d) => sameTarget(d.target.ref, ref));
  if (!match) return undefined;
  const ceremony = new Ceremony(store, match, o.who, o.now);
  return { ceremony, reconciled: await reconcile(ceremony, o.backend) };
}
