/**
 * What the page shows of a change run (public facts only): the roles and keys before and after,
 * and every document of the proposal as pretty JSON before and after (the CI root, the production
 * root, re-signed metadata, Factory production/wave targets). Projections; no private key here.
 */
import type { ChangesPlan, DocumentView, RoleView } from '../../shared/api.js';
import type { TargetsEntry } from '../backends/foundries-types.js';
import { shortKeyId } from '../tuf/diff.js';
import type { JsonObject } from '../tuf/json.js';
import { parseRoot, toDocument } from '../tuf/metadata.js';
import type { Root, RootDocument } from '../tuf/model.js';
import type { MetadataFile, RepoDocs } from '../tuf/repo-metadata.js';
import { TOP_LEVEL_ROLES, unmetRules } from '../tuf/changes.js';
import type { PreparedChanges } from './prepare.js';
import type { FactoryTargetsSignatures, SignedChanges } from './sign.js';

const pretty = (doc: unknown): string => JSON.stringify(doc, null, 2);

function rootDoc(r: Root): RootDocument {
  return toDocument(r.signedJson, r.signatures.map((s) => s.json));
}

/** The roles of `root`; `other` flags keys added (in `root`, not in `other`) or removed (the reverse). */
export function roleViews(root: Root, o: { other: Root; side: 'before' | 'after'; held: ReadonlySet<string>; online: ReadonlySet<string>; prodThreshold?: number | undefined }): RoleView[] {
  const out: RoleView[] = [];
  for (const name of TOP_LEVEL_ROLES) {
    const role = root.roles[name];
    if (!role) continue;
    const otherIds = new Set(o.other.roles[name]?.keyids ?? []);
    out.push({
      name,
      threshold: role.threshold,
      ...(name === 'targets' && o.prodThreshold !== undefined ? { prodThreshold: o.prodThreshold } : {}),
      keys: role.keyids.map((keyid) => {
        const owner = root.keyOwners?.[keyid]?.polisId;
        const isOnline = o.online.has(keyid) || (root.dialect === 'spec' && (name === 'snapshot' || name === 'timestamp'));
        return {
          keyid,
          keytype: root.keys[keyid]?.keytype ?? '',
          ...(owner !== undefined ? { owner } : {}),
          held: o.held.has(keyid),
          online: isOnline,
          added: o.side === 'after' && !otherIds.has(keyid),
          removed: o.side === 'before' && !otherIds.has(keyid),
        };
      }),
    });
  }
  return out;
}

/** Read at plan, to show before and after (the page's documents). */
export interface ChangesBefore {
  currentProd?: Root;
  repoDocs?: RepoDocs;
  prodTargets?: Record<string, TargetsEntry>;
  waveTargets?: Record<string, TargetsEntry>;
}

function metadataDocs(files: readonly MetadataFile[], before: RepoDocs | undefined, note?: string): DocumentView[] {
  return files
    .filter((f) => !/^\d+\./.test(f.name))
    .map((f) => ({
      name: f.name,
      kind: 'metadata' as const,
      before: before ? pretty(JSON.parse(before[f.role]) as unknown) : null,
      after: pretty(JSON.parse(f.text) as unknown),
      ...(note !== undefined ? { note } : {}),
    }));
}

function factoryTargetDocs(before: ChangesBefore, signed: FactoryTargetsSignatures | undefined, newKeyId: string | undefined): DocumentView[] {
  const out: DocumentView[] = [];
  const add = (kind: 'tag' | 'wave', entries: Record<string, TargetsEntry> | undefined, sigs: JsonObject | undefined): void => {
    for (const [name, e] of Object.entries(entries ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (signed !== undefined && !(kind === 'tag' ? signed.tags : signed.waves).includes(name)) continue;
      const sent = sigs?.[name];
      const doc: DocumentView = {
        name: `targets of ${kind} ${name}`,
        kind: 'factory-targets',
        before: pretty({ signatures: e.signatures, signed: e.signed }),
        after: pretty({ signatures: Array.isArray(sent) ? sent : e.signatures, signed: e.signed }),
      };
      if (!Array.isArray(sent)) doc.note = `Sign adds a signature by the new offline targets key${newKeyId !== undefined ? ` ${shortKeyId(newKeyId)}` : ''} over these bytes (sent as ${kind === 'tag' ? 'targets-signatures' : 'waves-signatures'}); only the production ${kind}s the old offline targets key signed are re-signed.`;
      else doc.note = `The signature by the new offline targets key, sent as ${kind === 'tag' ? 'targets-signatures' : 'waves-signatures'} with the roots.`;
      out.push(doc);
    }
  };
  add('tag', before.prodTargets, signed?.targetsSignatures);
  add('wave', before.waveTargets, signed?.wavesSignatures);
  return out;
}

/** The documents at plan (unsigned roots with a note on who signs; metadata as re-signed when known) or after sign (`signed`). */
export function documentViews(prep: PreparedChanges, before: ChangesBefore, o: { metadata?: MetadataFile[]; signed?: SignedChanges }): DocumentView[] {
  const plan = prep.plan;
  const signers = o.signed ? undefined : prep.rules.filter((r) => r.document === 'root' || r.document === 'prod-root');
  const who = signers?.map((r) => `${r.rule === 'old' ? 'the current' : 'the new'} root threshold ${r.threshold} (${r.keys.map((k) => shortKeyId(k.keyid)).join(', ')})`).join(' and ');
  const rootNote = o.signed ? undefined : `The Sign step adds the signatures: ${who ?? 'the root keys'}.`;
  const docs: DocumentView[] = [
    {
      name: 'root.json',
      kind: 'root',
      before: pretty(rootDoc(prep.current)),
      after: pretty(o.signed ? o.signed.root : toDocument(plan.newSigned, [])),
      ...(rootNote !== undefined ? { note: rootNote } : {}),
    },
  ];
  if (plan.prodSigned !== undefined) {
    docs.push({
      name: 'root.json (production)',
      kind: 'prod-root',
      before: before.currentProd ? pretty(rootDoc(before.currentProd)) : null,
      after: pretty(o.signed?.prod ?? toDocument(plan.prodSigned, [])),
      ...(rootNote !== undefined ? { note: rootNote } : {}),
    });
  }
  const files = o.signed?.metadata ?? o.metadata;
  if (files !== undefined) docs.push(...metadataDocs(files, before.repoDocs, o.signed ? undefined : 'Re-signed now with the keys held; published after the root.'));
  else if (plan.dialect === 'spec' && unmetRules(prep.rules).some((r) => r.document !== 'root')) {
    for (const r of unmetRules(prep.rules).filter((x) => x.document !== 'root')) {
      docs.push({ name: `${r.document}.json`, kind: 'metadata', before: before.repoDocs ? pretty(JSON.parse(before.repoDocs[r.document as 'targets']) as unknown) : null, after: before.repoDocs ? pretty(JSON.parse(before.repoDocs[r.document as 'targets']) as unknown) : '', note: `Needs re-signing by ${r.threshold} of ${r.keys.map((k) => shortKeyId(k.keyid)).join(', ')}, and the keys held cannot.` });
    }
  }
  const newTargets = plan.newKeys.find((k) => k.role === 'targets' && k.via === 'rotate-key');
  if (newTargets !== undefined && (before.prodTargets !== undefined || before.waveTargets !== undefined)) docs.push(...factoryTargetDocs(before, o.signed?.factoryTargets, newTargets.keyid));
  return docs;
}

/** The plan result's `changes`. */
export function changesPlanView(prep: PreparedChanges, before: ChangesBefore, metadata: MetadataFile[] | undefined, notes: string[]): ChangesPlan {
  const plan = prep.plan;
  const after = parseRoot(toDocument(plan.newSigned, []) as unknown as JsonObject, 'the proposed root');
  const prodAfter = plan.prodSigned !== undefined ? (plan.prodSigned['roles'] as JsonObject | undefined) : undefined;
  const prodT = (r: JsonObject | undefined): number | undefined => {
    const t = (r?.['targets'] as JsonObject | undefined)?.['threshold'];
    return typeof t === 'number' ? t : undefined;
  };
  const held = new Set(prep.signers.keys());
  const onlineBefore = new Set(Object.values(prep.onlineKeys?.before ?? {}).filter((x): x is string => typeof x === 'string'));
  const onlineAfter = new Set(Object.values(prep.onlineKeys?.after ?? {}).filter((x): x is string => typeof x === 'string'));
  return {
    summary: plan.summary,
    newKeys: plan.newKeys.map((k) => ({ role: k.role, keyid: k.keyid, ...(k.owner !== undefined ? { owner: k.owner } : {}) })),
    removedKeyIds: plan.removedKeyIds,
    signatures: prep.rules,
    missing: unmetRules(prep.rules),
    notes,
    roles: {
      before: roleViews(prep.current, { other: after, side: 'before', held, online: onlineBefore, prodThreshold: before.currentProd?.roles['targets']?.threshold }),
      after: roleViews(after, { other: prep.current, side: 'after', held, online: onlineAfter, prodThreshold: prodT(prodAfter) }),
    },
    documents: documentViews(prep, before, metadata !== undefined ? { metadata } : {}),
  };
}
