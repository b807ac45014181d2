/**
 * The Factory's users, to show key owners by name (server/tuf/owner-names.ts): the list
 * (GET users/) when the API answers it, else the caller alone (GET users/self/). Read once per
 * backend (a new target choice reads again); a failure is not kept, and never stops a step: the
 * owners are then shown by polis-id.
 */
import { directoryFromList, directoryOfSelf, type UserDirectory } from '../tuf/owner-names.js';
import type { Backend } from './backend.js';
import type { FoundriesClient } from './foundries-client.js';

/** Reads the directory of a Factory; undefined when even users/self/ cannot be read. */
export async function readUserDirectory(client: FoundriesClient): Promise<UserDirectory | undefined> {
  const list = directoryFromList(await client.usersList());
  if (list !== undefined) return list;
  try {
    return directoryOfSelf(await client.self());
  } catch {
    return undefined;
  }
}

const cache = new WeakMap<object, Promise<UserDirectory | undefined>>();

/** The users of a backend's Factory (cached per backend); undefined for other targets. */
export function userDirectoryOf(backend: Backend | undefined): Promise<UserDirectory | undefined> {
  const client = (backend as { client?: unknown } | undefined)?.client;
  if (backend === undefined || (backend.kind !== 'factory' && backend.kind !== 'practice') || !isClient(client)) return Promise.resolve(undefined);
  let p = cache.get(backend);
  if (p === undefined) {
    p = readUserDirectory(client);
    cache.set(backend, p);
    void p.then((d) => {
      if (d === undefined) cache.delete(backend);
    });
  }
  return p;
}

function isClient(c: unknown): c is FoundriesClient {
  return typeof c === 'object' && c !== null && typeof (c as FoundriesClient).usersList === 'function' && typeof (c as FoundriesClient).self === 'function';
}
