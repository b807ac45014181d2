/**
 * Several key changes in one new version (issue 10), step 1: the new keys and the plan. The same
 * functions run `tuf-rotate change` and the page's plan job. `draftChanges` plans on the current
 * root (nothing is begun: a pre-check of who must sign); `prepareChanges` begins the target's
 * transaction and plans on the base it stages (a Factory: version + 1, with the online keys it
 * generates, E14).
 */
import type { Backend } from '../backends/backend.js';
import type { FoundriesBackend } from '../backends/foundries.js';
import type { FoundriesClient } from '../backends/foundries-client.js';
import { checkExpired } from '../ceremony.js';
import type { Progress } from '../ceremony.js';
import { materializeChanges } from '../change-keys.js';
import type { AskedChange, GeneratedKey } from '../change-keys.js';
import { AppError } from '../errors.js';
import { heldKeysForRole } from '../keyring.js';
import type { KeyRing } from '../keyring.js';
import { ONLINE_ROLES, planChanges, signatureNeeds, TOP_LEVEL_ROLES, unmetRules } from '../tuf/changes.js';
import type { Change, ChangeContext, ChangePlan, SignatureRule } from '../tuf/changes.js';
import { keyIdFor } from '../tuf/public-key.js';
import type { KeyAlgorithm, PublicKeyInfo, Root, Signer } from '../tuf/model.js';
import { LocalSigner } from '../tuf/sign.js';

export interface ChangeOptions {
  keyType: KeyAlgorithm;
  now: Date;
  changelog?: string;
  /** `--add-key ROLE --key-file PUB`: reads a public key (the page has none: it generates every key). */
  readKeyFile?: (file: string) => Promise<PublicKeyInfo>;
  /** Change from an expired current root anyway (issue 13); the reason goes to the ceremony and record. */
  allowExpired?: { reason: string };
}

/** The changes planned on the current root, before anything is begun on the target. */
export interface DraftChanges {
  backend: Backend;
  ring: KeyRing;
  asked: AskedChange[];
  opts: ChangeOptions;
  current: Root;
  changes: Change[];
  /** Every key generated for the changes (private; saved to the new archive before anything is published). */
  generated: GeneratedKey[];
  /** The held keys of every role (current and staged roots) and the generated keys, by key ID. */
  signers: Map<string, Signer>;
  plan: ChangePlan;
  rules: SignatureRule[];
  /** Root signatures the keys held cannot make. */
  unmet: SignatureRule[];
  /** The current root had expired and the caller went ahead, saying why. */
  expiredOverride?: { reason: string; expired: string };
}

/** The changes planned on the base the target staged (the transaction is open on a Factory). */
export interface PreparedChanges extends DraftChanges {
  /** A Factory's API client (Factories and the practice factory only). */
  client?: FoundriesClient;
  factory: boolean;
  polisId?: string;
  /** The current (applied) online targets key of a Factory: not the offline one to re-sign production targets for. */
  currentOnlineTargets?: string;
  /** A Factory's online key IDs: applied now, and in the staged roots (E9 `online-keys`). */
  onlineKeys?: { before: Partial<Record<'targets' | 'snapshot' | 'timestamp', string>>; after: Partial<Record<'targets' | 'snapshot' | 'timestamp', string>> };
  /**
   * The plan cannot be staged partly signed: a targets-key rotation (its production targets need the
   * new key's signature) or a new key owned by someone other than the caller (rule 21).
   */
  unstageable: boolean;
}

/** The held private keys of every role of `root`, by key ID. */
export function heldSigners(ring: KeyRing, root: Root, into: Map<string, Signer>): void {
  for (const role of TOP_LEVEL_ROLES) {
    for (const [keyid, held] of heldKeysForRole(ring, root, role)) into.set(keyid, held.signer);
  }
}

function context(d: Pick<DraftChanges, 'signers' | 'opts'>, base: Root, extra: Partial<ChangeContext>): ChangeContext {
  return {
    now: d.opts.now,
    heldKeyIds: [...d.signers.keys()].filter((id) => base.keys[id] !== undefined),
    ...(d.opts.changelog !== undefined ? { changelog: d.opts.changelog } : {}),
    ...extra,
  };
}

function rootRules(plan: ChangePlan, signers: ReadonlyMap<string, Signer>): { rules: SignatureRule[]; unmet: SignatureRule[] } {
  const rules = signatureNeeds(plan, [...signers.keys()]);
  return { rules, unmet: unmetRules(rules).filter((r) => r.document === 'root') };
}

/** New keys (in memory) and the plan on the current root; nothing is begun, written or sent. */
export async function draftChanges(backend: Backend, ring: KeyRing, asked: AskedChange[], opts: ChangeOptions, progress: Progress = () => {}): Promise<DraftChanges> {
  progress('load', `Reading the current root from ${backend.description}`);
  const current = await backend.currentRoot();
  // Like the root-key rotation: an expired current root is refused unless the caller says why (nothing is begun yet).
  const expiredOverride = checkExpired(current, opts.now, opts.allowExpired);
  await ring.openTokenKeysFor?.(current);
  const readKeyFile = opts.readKeyFile ?? (async (): Promise<PublicKeyInfo> => {
    throw new AppError('BAD_REQUEST', 'A key added here is generated here; a public key file is for the command line.', 'Leave the key file out: a new key pair is generated and saved in the new archive.');
  });
  progress('generate', 'Generating the new keys the changes need');
  const { changes, generated } = await materializeChanges(asked, current.dialect, opts.keyType, readKeyFile);
  const signers = new Map<string, Signer>();
  heldSigners(ring, current, signers);
  for (const g of generated) signers.set(keyIdFor(current.dialect, g.key.publicKey), new LocalSigner(g.key));
  const d = { signers, opts };
  const plan = planChanges(current, changes, context(d, current, {}));
  return { backend, ring, asked, opts, current, changes, generated, signers, plan, ...rootRules(plan, signers), ...(expiredOverride ? { expiredOverride } : {}) };
}

/**
 * Begins the target's transaction and plans on the base it stages. A Factory first generates the
 * online keys asked for (fioctl rotate-all-keys' order: they appear in the staged roots, E14).
 * Anything that fails after the begin aborts it (a Factory's transaction is cancelled).
 */
export async function prepareChanges(draft: DraftChanges, progress: Progress = () => {}): Promise<PreparedChanges> {
  const { backend, opts } = draft;
  progress('begin', `Starting the changes on ${backend.description}`);
  const begun = await backend.begin(opts.changelog ?? 'Change TUF keys');
  const factory = backend.kind === 'factory' || backend.kind === 'practice';
  const client = factory ? (backend as FoundriesBackend).client : undefined;
  try {
    let base = begun.base;
    let extra: Partial<ChangeContext> = { bumpVersion: begun.bumpVersion };
    if (begun.polisId !== undefined) extra.polisId = begun.polisId;
    if (begun.prodTargetsThreshold !== undefined) extra.prodTargetsThreshold = begun.prodTargetsThreshold;
    let currentOnlineTargets: string | undefined;
    let onlineKeys: PreparedChanges['onlineKeys'];
    if (client !== undefined) {
      const online = draft.asked.find((a) => a.kind === 'rotate-online-keys');
      if (online !== undefined && online.kind === 'rotate-online-keys') {
        progress('online-keys', 'The Factory generates the new online keys');
        const roles = online.roles.length > 0 ? online.roles : [...ONLINE_ROLES];
        await client.genOnlineKeys({ txid: '', keyType: opts.keyType === 'rsa' ? 'RSA' : 'ED25519', roles });
      }
      const updates = await client.updates();
      if (updates.updated !== undefined) {
        base = updates.updated.ciRoot;
        extra = { ...extra, onlineKeyIds: updates.updated.onlineKeys };
        const prodT = updates.updated.prodRoot?.roles['targets']?.threshold;
        if (prodT !== undefined) extra.prodTargetsThreshold = prodT;
      }
      currentOnlineTargets = updates.current.onlineKeys.targets;
      onlineKeys = { before: updates.current.onlineKeys, after: updates.updated?.onlineKeys ?? updates.current.onlineKeys };
    }
    heldSigners(draft.ring, base, draft.signers);
    progress('plan', 'Planning the changes on the staged root');
    const plan = planChanges(base, draft.changes, context(draft, base, extra));
    const unstageable = plan.newKeys.some((k) => (k.role === 'targets' && k.via === 'rotate-key') || (k.owner !== undefined && begun.polisId !== undefined && k.owner !== begun.polisId));
    return {
      ...draft,
      plan,
      ...rootRules(plan, draft.signers),
      ...(client !== undefined ? { client } : {}),
      factory,
      ...(begun.polisId !== undefined ? { polisId: begun.polisId } : {}),
      ...(currentOnlineTargets !== undefined ? { currentOnlineTargets } : {}),
      ...(onlineKeys !== undefined ? { onlineKeys } : {}),
      unstageable,
    };
  } catch (e) {
    await backend.abort();
    throw e;
  }
}
