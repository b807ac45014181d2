/**
 * Key owners by name: a Factory's `x-key-owners` and `x-changelog` carry polis-ids (user UUIDs);
 * people know each other by name. The names come from the Factory's users (GET users/, or
 * users/self/ alone when the list cannot be read) and are text the users typed: they are cleaned
 * here, shown beside the polis-id's first 8 characters, and never allowed to pass for a key ID.
 * Pure.
 */

/** The Factory's users as read through its API: polis-id → name as the API wrote it. */
export interface UserDirectory {
  names: ReadonlyMap<string, string>;
  /** 'list': every user of the Factory (GET users/); 'self': only the caller (GET users/self/). */
  source: 'list' | 'self';
}

/** How an owner is shown. */
export interface OwnerName {
  polisId: string;
  /** The cleaned name, when the Factory knows the user and the name is safe to show. */
  name?: string;
  /** "Name (polis-id 1a2b3c4d)", or the whole polis-id with why no name is shown. */
  label: string;
}

/** Longest name shown (longer ones are cut with "…"). */
export const MAX_NAME_CHARS = 64;

/** The sentence for a polis-id the Factory's users do not include. */
export const NOT_KNOWN = 'user not known to this Factory';

/**
 * A user-typed name made safe to print in a sentence, a terminal or a page: letters, marks,
 * digits, spaces and a few punctuation marks people use in names; everything else (control and
 * format characters, bidi overrides, brackets, quotes other than the apostrophe) is dropped,
 * whitespace collapsed, the length capped. Undefined when nothing is left, or when what is left
 * could be read as a key ID or a digest (8 or more hex digits in a row).
 */
export function cleanUserName(raw: string): string | undefined {
  const kept = raw.normalize('NFC').replace(/[^\p{L}\p{M}\p{N} .,'’@_+&-]+/gu, ' ');
  let name = kept.replace(/\s+/g, ' ').trim();
  if (name === '') return undefined;
  if (/[0-9a-f]{8,}/i.test(name)) return undefined;
  const chars = [...name];
  if (chars.length > MAX_NAME_CHARS) name = chars.slice(0, MAX_NAME_CHARS - 1).join('').trimEnd() + '…';
  return name;
}

/** The first 8 characters of a polis-id, as shown beside a name. */
export function shortPolisId(polisId: string): string {
  return polisId.slice(0, 8);
}

/**
 * How to show the owner `polisId`: with no directory (no Factory to ask, e.g. two root files) the
 * whole polis-id; with one, "Name (polis-id 1a2b3c4d)" or "<polis-id> (user not known to this Factory)".
 */
export function ownerName(polisId: string, users: UserDirectory | undefined): OwnerName {
  const id = cleanPolisId(polisId);
  if (users === undefined) return { polisId, label: `polis-id ${id}` };
  const raw = users.names.get(polisId);
  if (raw === undefined) return { polisId, label: `polis-id ${id} (${NOT_KNOWN})` };
  const name = cleanUserName(raw);
  if (name === undefined) return { polisId, label: `polis-id ${id} (its name cannot be shown: empty, or it looks like a key ID)` };
  return { polisId, name, label: `${name} (polis-id ${shortPolisId(id)})` };
}

/** The text for a polis-id itself: it comes from the root, which anyone could have written. */
function cleanPolisId(polisId: string): string {
  const s = polisId.replace(/[^\p{L}\p{N}._:-]+/gu, '?');
  return s.length > 80 ? s.slice(0, 79) + '…' : s;
}

/** A directory from GET users/ (an array of {polis-id, name, …}); undefined when it is not one. */
export function directoryFromList(body: unknown): UserDirectory | undefined {
  if (!Array.isArray(body)) return undefined;
  const names = new Map<string, string>();
  for (const u of body) {
    if (typeof u !== 'object' || u === null) continue;
    const id = (u as Record<string, unknown>)['polis-id'];
    const name = (u as Record<string, unknown>)['name'];
    if (typeof id === 'string' && id !== '' && typeof name === 'string') names.set(id, name);
  }
  return { names, source: 'list' };
}

/** A directory of the caller alone (GET users/self/). */
export function directoryOfSelf(self: { polisId: string; name?: string }): UserDirectory {
  return { names: new Map(self.name !== undefined ? [[self.polisId, self.name]] : []), source: 'self' };
}
