/**
 * Factory multi-admin signing (issue #11, fioctl's `keys tuf updates sign`, foundries-operations.md
 * §3.5): the staged CI and production roots' short authentication string, who still signs them,
 * and adding an admin's signatures to them, merged with what is staged at the moment of upload.
 */
import { createHash } from 'node:crypto';
import type { FoundriesClient } from './backends/foundries-client.js';
import { AppError } from './errors.js';
import type { KeyRing } from './keyring.js';
import { sasOf, type Sas } from './requests/sas.js';
import { canonicalBytes } from './tuf/canonical-json.js';
import { shortKeyId } from './tuf/diff.js';
import { publicKeyOf, samePublicKey } from './tuf/public-key.js';
import { toDocument } from './tuf/metadata.js';
import type { Root, RootDocument } from './tuf/model.js';
import { decodeSignature, signRoot, verifySignature } from './tuf/sign.js';

/**
 * The SAS of a staged transaction: the requests module's `sasOf` over SHA-256 of the staged CI
 * root's canonical `signed` bytes (what every CI signature covers; the production root is the same
 * but for its targets threshold). Both admins compare it before signing.
 */
export function factorySas(ci: Root): Sas {
  return sasOf(createHash('sha256').update(canonicalBytes('foundries', ci.signedJson)).digest('hex'));
}

export interface StagedNeed {
  document: 'ci root' | 'production root';
  rule: 'old' | 'new';
  threshold: number;
  /** Key IDs whose valid signature is on the staged document. */
  signed: string[];
  /** Key IDs of the role that have not signed, with their owner (x-key-owners polis-id) when known. */
  missing: { keyid: string; owner?: string }[];
}

/** Key IDs of `role` whose signature over `doc`'s canonical bytes verifies. */
function validSigners(doc: Root, role: { keyids: string[] }, keys: Root['keys']): string[] {
  const bytes = canonicalBytes('foundries', doc.signedJson);
  const out: string[] = [];
  for (const s of doc.signatures) {
    if (!role.keyids.includes(s.keyid) || out.includes(s.keyid)) continue;
    const rk = keys[s.keyid];
    const raw = decodeSignature('foundries', s);
    if (rk === undefined || raw === undefined) continue;
    try {
      if (verifySignature(publicKeyOf(rk), bytes, raw)) out.push(s.keyid);
    } catch {
      // an unreadable key counts as no signature
    }
  }
  return out;
}

/** Per staged root: the served root's root-role threshold (old) and the staged one's own (new). */
export function stagedNeeds(served: { ci: Root; prod: Root }, staged: { ci: Root; prod: Root }): StagedNeed[] {
  const out: StagedNeed[] = [];
  for (const [document, cur, next] of [['ci root', served.ci, staged.ci], ['production root', served.prod, staged.prod]] as const) {
    for (const [rule, trusted] of [['old', cur], ['new', next]] as const) {
      const role = trusted.roles['root'] ?? { keyids: [], threshold: 1 };
      const signed = validSigners(next, role, trusted.keys);
      const owners = { ...(cur.keyOwners ?? {}), ...(next.keyOwners ?? {}) };
      const missing = role.keyids.filter((id) => !signed.includes(id)).map((keyid) => {
        const o = owners[keyid]?.polisId;
        return o !== undefined ? { keyid, owner: o } : { keyid };
      });
      out.push({ document, rule, threshold: role.threshold, signed, missing });
    }
  }
  return out;
}

export function unmetNeeds(needs: readonly StagedNeed[]): StagedNeed[] {
  return needs.filter((n) => n.signed.length < n.threshold);
}

/** One line a need: `ci root, new root keys: 1 of 2 signed; still to sign: 1a2b3c4d (polis-id …)`. */
export function describeNeed(n: StagedNeed): string {
  const who = n.missing.map((m) => `${shortKeyId(m.keyid)}${m.owner !== undefined ? ` (polis-id ${m.owner})` : ''}`).join(', ');
  const ok = n.signed.length >= n.threshold;
  return `${n.document}, ${n.rule === 'old' ? 'served' : 'staged'} root keys: ${n.signed.length} of ${n.threshold} signed${ok ? ' ✓' : `; still to sign: ${who || '(no other key)'}`}`;
}

async function readStaged(client: FoundriesClient): Promise<{ ci: Root; prod: Root }> {
  const u = await client.updates();
  if (u.status !== 'STARTED' || u.updated === undefined || u.updated.prodRoot === undefined) {
    throw new AppError('TARGET_CONFLICT', `No staged TUF root updates on ${client.factory} to sign (status ${u.status}).`,
      `Read the state with \`tuf-rotate review --factory ${client.factory}\`.`);
  }
  return { ci: u.updated.ciRoot, prod: u.updated.prodRoot };
}

function digest(r: Root): string {
  return createHash('sha256').update(canonicalBytes('foundries', r.signedJson)).digest('hex');
}

/** Ours first, then the staged ones of other key IDs (fioctl's order; a re-sign replaces its own). */
function merged(staged: Root, ours: Map<string, Record<string, unknown>>): RootDocument {
  const sigs = [...ours.values(), ...staged.signatures.filter((s) => !ours.has(s.keyid)).map((s) => s.json)];
  return toDocument(staged.signedJson, sigs as RootDocument['signatures']);
}

export interface FactorySignResult {
  sas: Sas;
  /** Key IDs this run signed with (CI and production). */
  signedWith: string[];
  needs: StagedNeed[];
  complete: boolean;
  /** Uploads made (more than 1 when a concurrent upload dropped ours and it was merged again). */
  uploads: number;
}

/**
 * Signs the staged CI and production roots with the ring's keys required by either root's old or
 * new root role (refused, naming the required keys, when none is), verifies each signature, then
 * re-reads the staged roots right before the upload and merges: the staged signatures of other key
 * IDs are kept. After the upload the roots are read back; if a concurrent upload dropped ours, the
 * merge is uploaded again (up to 5 times). `expectSas`: refuse if the staged roots changed since review.
 */
export async function signFactory(client: FoundriesClient, ring: KeyRing, opts: { txid: string; expectSas?: string }): Promise<FactorySignResult> {
  const served = { ci: (await client.servedRoot(false)).root, prod: (await client.servedRoot(true)).root };
  const staged = await readStaged(client);
  const sas = factorySas(staged.ci);
  if (opts.expectSas !== undefined && sas.hex !== opts.expectSas) {
    throw new AppError('TARGET_CONFLICT', `The staged roots changed while you reviewed them (SAS now ${sas.hex}, reviewed ${opts.expectSas}).`, 'Review them again and sign what is staged now.');
  }
  const required = new Map<string, Root['keys'][string]>();
  for (const r of [served.ci, staged.ci, served.prod, staged.prod]) {
    for (const id of r.roles['root']?.keyids ?? []) if (r.keys[id] !== undefined) required.set(id, r.keys[id]);
  }
  const mine: { keyid: string; signer: KeyRing['keys'][number]['signer'] }[] = [];
  for (const [keyid, rk] of required) {
    let pub;
    try {
      pub = publicKeyOf(rk);
    } catch {
      continue;
    }
    const held = ring.keys.find((h) => samePublicKey(h.publicKey, pub));
    if (held !== undefined) mine.push({ keyid, signer: held.signer });
  }
  if (mine.length === 0) {
    throw new AppError('SIGNATURE_KEY_NOT_REQUIRED',
      `None of the keys given (${ring.source}) is required by the staged TUF root updates; the keys that are: ${[...required.keys()].map(shortKeyId).join(', ')}.`,
      'Sign with the archive or PEM file that holds one of those root keys.');
  }
  // Sign both documents; signRoot verifies each signature before returning it.
  const ciSigs = new Map<string, Record<string, unknown>>();
  const prodSigs = new Map<string, Record<string, unknown>>();
  for (const [doc, into] of [[staged.ci, ciSigs], [staged.prod, prodSigs]] as const) {
    const sigs = await signRoot('foundries', doc.signedJson, mine);
    for (const s of sigs) into.set(String(s['keyid']), s);
  }
  const want = { ci: digest(staged.ci), prod: digest(staged.prod) };
  let uploads = 0;
  for (;;) {
    // Right before the upload: what is staged now (another holder may have signed meanwhile).
    const now = await readStaged(client);
    if (digest(now.ci) !== want.ci || digest(now.prod) !== want.prod) {
      throw new AppError('TARGET_CONFLICT', `The staged roots on ${client.factory} changed while signing (SAS now ${factorySas(now.ci).hex}, signed ${sas.hex}); nothing was uploaded.`,
        'Review the staged roots again and sign what is staged now.');
    }
    const have = (r: Root, sigs: Map<string, Record<string, unknown>>): boolean => [...sigs.values()].every((s) => r.signatures.some((x) => x.keyid === s['keyid'] && x.sig === s['sig']));
    if (uploads > 0 && have(now.ci, ciSigs) && have(now.prod, prodSigs)) break;
    if (uploads >= 5) throw new AppError('TARGET_CONFLICT', `Our signatures were dropped by other uploads ${uploads} times in a row on ${client.factory}.`, 'Run tuf-rotate sign --factory again once the other holders are done.');
    await client.put({ txid: opts.txid, ciRoot: merged(now.ci, ciSigs), prodRoot: merged(now.prod, prodSigs) });
    uploads++;
  }
  const after = await readStaged(client);
  const needs = stagedNeeds(served, after);
  return { sas, signedWith: mine.map((m) => m.keyid), needs, complete: unmetNeeds(needs).length === 0, uploads };
}

/** The staged roots as fetched, with who still signs (for `change --factory` after a partial upload). */
export async function stagedStatus(client: FoundriesClient): Promise<{ sas: Sas; needs: StagedNeed[] }> {
  const served = { ci: (await client.servedRoot(false)).root, prod: (await client.servedRoot(true)).root };
  const staged = await readStaged(client);
  return { sas: factorySas(staged.ci), needs: stagedNeeds(served, staged) };
}
