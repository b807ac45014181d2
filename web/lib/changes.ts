/**
 * Several key changes in one new version (issue 10), as the page sees them: the changes asked for,
 * the plan job's `changes` part (roles before/after, every document of the proposal, who signs) and
 * the sign job's signed documents. The types are spelled out here (shared/api/rotation.ts holds the
 * schemas; FromSchema of their oneOf is too deep for the web checker), and the plain-language list
 * of what will change is written here, before anything is sent.
 */
import { diffLines, type DiffLine } from '../../shared/line-diff.js';

export type Role = 'root' | 'targets' | 'snapshot' | 'timestamp';
export type OnlineRole = Exclude<Role, 'root'>;

/** One change of POST /api/plan's `changes` (shared/api/rotation.ts `askedChangeSchema`). */
export type AskedChange =
  | { kind: 'rotate-key'; role: Role }
  | { kind: 'add-key'; role: Role; owner?: string }
  | { kind: 'remove-key'; keyid: string }
  | { kind: 'threshold'; role: Role; threshold: number }
  | { kind: 'prod-targets-threshold'; threshold: number }
  | { kind: 'refresh-expiry'; days?: number }
  | { kind: 'rotate-online-keys'; roles: OnlineRole[] };

export interface SignatureRule {
  document: 'root' | 'prod-root' | 'targets' | 'snapshot' | 'timestamp';
  rule: 'old' | 'new';
  threshold: number;
  available: number;
  keys: { keyid: string; owner?: string; available: boolean }[];
}

export interface KeyView {
  keyid: string;
  keytype: string;
  owner?: string;
  held: boolean;
  online: boolean;
  added: boolean;
  removed: boolean;
}

export interface RoleView {
  name: Role;
  threshold: number;
  prodThreshold?: number;
  keys: KeyView[];
}

export interface DocumentView {
  name: string;
  kind: 'root' | 'prod-root' | 'metadata' | 'factory-targets';
  before: string | null;
  after: string;
  note?: string;
}

/** The plan job result's `changes` part. */
export interface ChangesPlan {
  summary: string[];
  newKeys: { role: string; keyid: string; owner?: string }[];
  removedKeyIds: string[];
  signatures: SignatureRule[];
  missing: SignatureRule[];
  notes: string[];
  roles: { before: RoleView[]; after: RoleView[] };
  documents: DocumentView[];
}

const short = (keyid: string): string => keyid.slice(0, 8);

/** What one asked change will do, in words (the Plan step's list, before anything is sent). */
export function describeChange(c: AskedChange, keyName: (keyid: string) => string = short): string {
  switch (c.kind) {
    case 'rotate-key':
      return c.role === 'root'
        ? 'Replace your root key with a new one (the old root key signs the new root, then is removed).'
        : `Replace the ${c.role} key with a new one; ${c.role === 'targets' ? 'the targets metadata is re-signed with it' : `${c.role}.json is re-signed with it`}.`;
    case 'add-key':
      return `Add a new ${c.role} key${c.owner ? ` owned by ${c.owner}` : ''} (generated now, saved in the new key archive).`;
    case 'remove-key':
      return `Remove key ${keyName(c.keyid)} from every role it serves.`;
    case 'threshold':
      return `Set the ${c.role} threshold to ${c.threshold} (${c.threshold} signature${c.threshold === 1 ? '' : 's'} needed).`;
    case 'prod-targets-threshold':
      return `Set the production targets threshold to ${c.threshold}.`;
    case 'refresh-expiry':
      return `Set the root expiry to ${c.days ?? 365} days from now.`;
    case 'rotate-online-keys':
      return `Ask for new online keys for ${c.roles.join(', ')}.`;
  }
}

/** Which document a signature rule is about, in words. */
export function ruleLabel(s: SignatureRule): string {
  const doc = s.document === 'root' ? 'root.json' : s.document === 'prod-root' ? 'root.json (production)' : `${s.document}.json`;
  if (s.document === 'root' || s.document === 'prod-root') return `${doc}, ${s.rule === 'old' ? 'trusted (old) threshold' : 'new threshold'}`;
  return doc;
}

/** The line diff of one document (null before: every line is new). */
export function documentLines(d: DocumentView): DiffLine[] {
  return diffLines(d.before === null ? [] : d.before.split('\n'), d.after.split('\n'));
}

/** The CI root first, then the production root, then the rest in the server's order. */
export function orderDocuments(docs: readonly DocumentView[]): DocumentView[] {
  const rank = (d: DocumentView): number => (d.kind === 'root' ? 0 : d.kind === 'prod-root' ? 1 : 2);
  return docs.map((d, i) => ({ d, i })).sort((a, b) => rank(a.d) - rank(b.d) || a.i - b.i).map((x) => x.d);
}

/** The key IDs that sign a document (its `signatures`), or [] when it is not signed JSON. */
function signers(json: string | null): string[] {
  if (json === null) return [];
  try {
    const doc = JSON.parse(json) as { signatures?: unknown };
    if (!Array.isArray(doc.signatures)) return [];
    return doc.signatures.flatMap((s: unknown) => (typeof s === 'object' && s !== null && typeof (s as { keyid?: unknown }).keyid === 'string' ? [(s as { keyid: string }).keyid] : []));
  } catch {
    return [];
  }
}

/**
 * What the sign step did to one document, in words: "targets.json re-signed: signature by
 * 1a2b3c4d added", "targets of tag main: signature by 1a2b3c4d (alice) added". The server's note
 * (how it is sent, what is still to come) is shown beside it by the caller.
 */
export function signedLine(d: DocumentView, keyName: (keyid: string) => string = short): string {
  const after = signers(d.after);
  // A new root version is signed afresh: who signed it is what matters.
  if (d.kind === 'root' || d.kind === 'prod-root') return `${d.name} signed by ${after.length > 0 ? after.map(keyName).join(', ') : 'no key yet'}`;
  const before = new Set(signers(d.before));
  const added = after.filter((k) => !before.has(k));
  // Factory production/wave targets: the Factory keeps the targets; the page sends the new signatures.
  if (d.kind === 'factory-targets') return added.length > 0 ? `${d.name}: signature${added.length === 1 ? '' : 's'} by ${added.map(keyName).join(', ')} added` : `${d.name}: no new signature`;
  const dropped = [...before].filter((k) => !after.includes(k));
  const parts: string[] = [];
  if (added.length > 0) parts.push(`signature${added.length === 1 ? '' : 's'} by ${added.map(keyName).join(', ')} added`);
  if (dropped.length > 0) parts.push(`signature${dropped.length === 1 ? '' : 's'} by ${dropped.map(keyName).join(', ')} dropped`);
  if (parts.length === 0 && after.length > 0) parts.push(`signed by ${after.map(keyName).join(', ')}`);
  return `${d.name} ${d.before === null ? 'signed' : 're-signed'}${parts.length > 0 ? `: ${parts.join('; ')}` : ''}`;
}

/** Names keys by short ID and, where the roles know it, owner: "1a2b3c4d (alice)". */
export function keyNamer(plan: ChangesPlan | null): (keyid: string) => string {
  const owners = new Map<string, string>();
  for (const r of [...(plan?.roles.before ?? []), ...(plan?.roles.after ?? [])]) for (const k of r.keys) if (k.owner) owners.set(k.keyid, k.owner);
  for (const k of plan?.newKeys ?? []) if (k.owner) owners.set(k.keyid, k.owner);
  return (keyid) => {
    const o = owners.get(keyid);
    return `${short(keyid)}${o ? ` (${o})` : ''}`;
  };
}
