/**
 * `tuf-rotate change TARGET --keys … CHANGE…`: several key changes in one new root version
 * (server/tuf/changes.ts), signed, verified, new keys saved (archive read back and proven), then
 * published — or exit 3 with who must still sign when the keys given do not meet every threshold.
 */
import type { Pkcs11Options } from '../../signers/pkcs11.js';
import { isPkcs11Uri } from '../../signers/pkcs11-uri.js';
import { closeTokens, tokenOptions } from '../pkcs11-options.js';
import path from 'node:path';
import { KEYS_DIR, archivePrefix } from '../../archive/layout.js';
import { readBackAndProve, writeKeyArchive } from '../../archive/write.js';
import type { ArchiveAddition } from '../../archive/write.js';
import { readKeyArchive } from '../../archive/read.js';
import type { FoundriesBackend } from '../../backends/foundries.js';
import { LocalRepoBackend } from '../../backends/local-repo.js';
import { userDirectoryOf } from '../../backends/user-directory.js';
import { failedRules } from '../../ceremony.js';
import { AppError } from '../../errors.js';
import { ARCHIVE_FILE_LIMIT, emptyArchive, heldKeysForRole, keyRingFromArchive, loadKeyRing } from '../../keyring.js';
import type { KeyRing } from '../../keyring.js';
import {
  describeRule,
  metadataToResign,
  ONLINE_ROLES,
  planChanges,
  signatureNeeds,
  signChangePlan,
  TOP_LEVEL_ROLES,
  unmetRules,
} from '../../tuf/changes.js';
import type { ChangeContext, ChangePlan, OnlineRole, SignatureRule, TopRole } from '../../tuf/changes.js';
import { diffRoots } from '../../tuf/diff.js';
import type { JsonObject } from '../../tuf/json.js';
import { archivePairFilesFor, keyIdFor, parsePemPrivateKey, publicKeyOf } from '../../tuf/keys.js';
import { parseRoot } from '../../tuf/metadata.js';
import type { KeyAlgorithm, PublicKeyInfo, Root, Signer } from '../../tuf/model.js';
import { resignRepoMetadata } from '../../tuf/repo-metadata.js';
import type { MetadataFile } from '../../tuf/repo-metadata.js';
import { LocalSigner } from '../../tuf/sign.js';
import { verifyRootUpdate } from '../../tuf/verify.js';
import { readFileLimited } from '../../util/fs-atomic.js';
import { materializeChanges } from '../../change-keys.js';
import { oldOfflineTargetsKey, resignProductionTargets } from '../../change-factory.js';
import type { AskedChange as Asked, GeneratedKey as Generated } from '../../change-keys.js';
import { choice, one, parseArgs, usage } from '../args.js';
import { formatDiff, formatReport } from '../format.js';
import type { CliIo } from '../io.js';
import { noPositionals, now, resolvePath } from '../io.js';
import { backendFor } from '../targets.js';

export const EXIT_WAITING = 3;

const OPTIONS = [
  'keys', 'out', 'repo', 'root', 'out-root', 'factory', 'api-url', 'token-file', 'changelog',
  'rotate-key', 'add-key', 'owner', 'key-file', 'remove-key', 'threshold', 'prod-targets-threshold',
  'refresh-expiry', 'rotate-online-keys', 'new-key-type', 'pkcs11-module', 'pin-file', 'request', 'who', 'note',
] as const;
const FLAGS = ['json', 'dry-run', 'overwrite'] as const;

function topRole(v: string, what: string): TopRole {
  if (!(TOP_LEVEL_ROLES as readonly string[]).includes(v)) throw usage(`${what} takes a role (root, targets, snapshot, timestamp), not "${v}".`);
  return v as TopRole;
}

function count(v: string, what: string): number {
  if (!/^\d{1,4}$/.test(v) || Number(v) < 1) throw usage(`${what} must be a whole number of at least 1, not "${v}".`);
  return Number(v);
}

/**
 * Optional values: `--refresh-expiry [DAYS]` and `--rotate-online-keys [ROLES]` take the next word
 * only when it looks like their value; `--owner`/`--key-file` belong to the `--add-key` before them.
 */
export function parseChanges(argv: readonly string[]): { argv: string[]; asked: Asked[] } {
  const out: string[] = [];
  const asked: Asked[] = [];
  let lastAdd: Extract<Asked, { kind: 'add-key' }> | undefined;
  const [command, ...rest] = argv;
  if (command !== undefined) out.push(command);
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] ?? '';
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? arg.slice(2, eq === -1 ? undefined : eq) : '';
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    const next = rest[i + 1];
    const take = (): string => {
      if (inline !== undefined) return inline;
      if (next === undefined || next.startsWith('--')) throw usage(`--${name} needs a value.`);
      i++;
      return next;
    };
    switch (name) {
      case 'refresh-expiry': {
        let v = inline;
        if (v === undefined && next !== undefined && /^\d+$/.test(next)) {
          v = next;
          i++;
        }
        asked.push(v === undefined ? { kind: 'refresh-expiry' } : { kind: 'refresh-expiry', days: count(v, '--refresh-expiry') });
        out.push('--refresh-expiry=x');
        continue;
      }
      case 'rotate-online-keys': {
        let v = inline;
        if (v === undefined && next !== undefined && /^[a-z,]+$/i.test(next) && !next.startsWith('--')) {
          v = next;
          i++;
        }
        const roles = (v ?? '').split(',').map((r) => r.trim().toLowerCase()).filter((r) => r !== '');
        for (const r of roles) if (!(ONLINE_ROLES as readonly string[]).includes(r)) throw usage(`--rotate-online-keys takes targets, snapshot, timestamp (comma-separated), not "${r}".`);
        asked.push({ kind: 'rotate-online-keys', roles: roles as OnlineRole[] });
        out.push('--rotate-online-keys=x');
        continue;
      }
      case 'rotate-key':
        asked.push({ kind: 'rotate-key', role: topRole(take(), '--rotate-key') });
        out.push('--rotate-key=x');
        continue;
      case 'add-key':
        lastAdd = { kind: 'add-key', role: topRole(take(), '--add-key') };
        asked.push(lastAdd);
        out.push('--add-key=x');
        continue;
      case 'owner':
      case 'key-file': {
        const v = take();
        if (lastAdd === undefined) throw usage(`--${name} belongs after the --add-key it is for.`);
        if (name === 'owner') {
          if (lastAdd.owner !== undefined) throw usage('--owner was given twice for one --add-key.');
          lastAdd.owner = v;
        } else {
          if (lastAdd.keyFile !== undefined) throw usage('--key-file was given twice for one --add-key.');
          lastAdd.keyFile = v;
        }
        out.push(`--${name}=x`);
        continue;
      }
      case 'remove-key':
        asked.push({ kind: 'remove-key', keyid: take() });
        out.push('--remove-key=x');
        continue;
      case 'threshold': {
        const v = take();
        const m = /^([a-z]+)=(.+)$/.exec(v);
        if (!m) throw usage(`--threshold takes ROLE=N (for example root=2), not "${v}".`);
        asked.push({ kind: 'threshold', role: topRole(m[1] ?? '', '--threshold'), threshold: count(m[2] ?? '', '--threshold') });
        out.push('--threshold=x');
        continue;
      }
      case 'prod-targets-threshold':
        asked.push({ kind: 'prod-targets-threshold', threshold: count(take(), '--prod-targets-threshold') });
        out.push('--prod-targets-threshold=x');
        continue;
      default:
        out.push(arg);
    }
  }
  return { argv: out, asked };
}

/** `--keys` may repeat: archives (the first is the base of --out) and PEM files or folders (the practice repository's online keys). */
export async function loadKeys(inputs: string[], pkcs11?: Pkcs11Options): Promise<KeyRing> {
  const archives = inputs.filter((p) => /\.(tgz|tar\.gz)$/i.test(p));
  const others = inputs.filter((p) => !archives.includes(p));
  const read = async (file: string): Promise<KeyRing> =>
    keyRingFromArchive(await readKeyArchive(await readFileLimited(file, ARCHIVE_FILE_LIMIT, 'key archive'), { name: path.basename(file) }), file);
  // The first archive is the one --out copies; further archives (a Factory's targets keys) only lend keys.
  const ring: KeyRing = archives[0] !== undefined ? await read(archives[0]) : { source: others.join(', '), archive: undefined, keys: [] };
  for (const more of archives.slice(1)) ring.keys.push(...(await read(more)).keys);
  if (others.length > 0) {
    const pems = await loadKeyRing(others, pkcs11); // PEM files, and pkcs11: URIs of token keys
    ring.keys.push(...pems.keys);
    ring.source = inputs.join(', ');
  }
  return ring;
}

/** `--key-file`: a PEM public key (SPKI), a fioctl/TUF `.pub` key object, Ed25519 as 64 hex digits, or a private PEM (only its public half is used). */
async function publicKeyFile(io: CliIo, file: string): Promise<PublicKeyInfo> {
  const text = (await readFileLimited(resolvePath(io, file), 64 * 1024, 'public key file')).toString('utf8').trim();
  const tryKey = (keytype: string, pub: string): PublicKeyInfo | undefined => {
    try {
      return publicKeyOf({ keytype, scheme: undefined, public: pub, algorithm: undefined, json: {} });
    } catch {
      return undefined;
    }
  };
  let found: PublicKeyInfo | undefined;
  if (/PRIVATE KEY/.test(text)) found = parsePemPrivateKey(text).publicKey;
  else if (text.startsWith('{')) {
    try {
      const json = JSON.parse(text) as JsonObject;
      const keyval = json['keyval'] as JsonObject | undefined;
      if (typeof json['keytype'] === 'string' && typeof keyval?.['public'] === 'string') found = tryKey(json['keytype'], keyval['public']);
    } catch {
      found = undefined;
    }
  } else if (/BEGIN PUBLIC KEY/.test(text)) found = tryKey('rsa', text) ?? tryKey('ecdsa', text);
  else found = tryKey('ed25519', text);
  if (found === undefined) {
    throw new AppError('KEY_INVALID', `${file} holds no public key tuf-rotate can read`, 'Give a PEM public key (SPKI), a fioctl .pub file, or an Ed25519 key as 64 hex digits.');
  }
  return found;
}

/** The held private keys of every role of `root`, by key ID. */
function heldSigners(ring: KeyRing, root: Root, into: Map<string, Signer>): void {
  for (const role of TOP_LEVEL_ROLES) {
    for (const [keyid, held] of heldKeysForRole(ring, root, role)) into.set(keyid, held.signer);
  }
}

function printNeeds(io: CliIo, json: boolean, plan: ChangePlan, unmet: SignatureRule[], rules: SignatureRule[]): number {
  if (json) {
    io.stdout(JSON.stringify({ ok: false, waiting: true, version: plan.newSigned.version, changes: plan.summary, signatures: rules, missing: unmet }) + '\n');
  } else {
    io.stdout(
      `${plan.summary.join('\n')}\n\nThe keys given cannot meet every threshold; nothing was written or published.\nStill to sign:\n` +
        unmet.map((r) => `  ${describeRule(r)}`).join('\n') +
        '\nGive the missing keys with --keys, or have their holders sign (signing requests: `tuf-rotate sign`).\n',
    );
  }
  return EXIT_WAITING;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  try {
    return await runChange(argv, io);
  } finally {
    await closeTokens(); // token sessions (--keys pkcs11:…) end with the command
  }
}

async function runChange(argv: string[], io: CliIo): Promise<number> {
  const { argv: rest, asked } = parseChanges(argv);
  const args = parseArgs(rest, { options: OPTIONS, flags: FLAGS });
  noPositionals(args);
  const json = args.flags.has('json');
  const dryRun = args.flags.has('dry-run');
  if (asked.length === 0) throw usage('Name at least one change: --rotate-key, --add-key, --remove-key, --threshold, --prod-targets-threshold, --refresh-expiry, --rotate-online-keys.');
  const keyType = choice<KeyAlgorithm>(args, 'new-key-type', ['ed25519', 'rsa', 'ecdsa'], 'ed25519');
  const keysIn = (args.options.get('keys') ?? []).map((k) => (isPkcs11Uri(k) ? k : resolvePath(io, k)));
  if (keysIn.length === 0) throw usage('--keys is required: the key archive (.tgz) and/or PEM private key files.');
  const tokens = tokenOptions(args, io);
  const out = one(args, 'out');
  const changelog = one(args, 'changelog');
  const factory = one(args, 'factory') !== undefined;

  const willGenerate = asked.some((a) => a.kind === 'rotate-key' || (a.kind === 'add-key' && a.keyFile === undefined) || (a.kind === 'rotate-online-keys' && !factory));
  if (willGenerate && !dryRun && out === undefined) throw usage('--out is required: where to write the new key archive (the input archive plus the new keys).');
  const backend = await backendFor(args, io, 'change');
  const ring = await loadKeys(keysIn, tokens.pkcs11);
  const t = now(io);

  // New keys first (nothing is written yet); then the plan on the current root as a pre-check.
  const current = await backend.currentRoot();
  const dialect = current.dialect;
  const { changes, generated } = await materializeChanges(asked, dialect, keyType, (file) => publicKeyFile(io, file));

  const signers = new Map<string, Signer>();
  heldSigners(ring, current, signers);
  for (const g of generated) signers.set(keyIdFor(dialect, g.key.publicKey), new LocalSigner(g.key));
  const ctxBase = (base: Root, extra: Partial<ChangeContext>): ChangeContext => ({
    now: t,
    heldKeyIds: [...signers.keys()].filter((id) => base.keys[id] !== undefined),
    ...(changelog !== undefined ? { changelog } : {}),
    ...extra,
  });
  const pre = planChanges(current, changes, ctxBase(current, {}));
  const preRules = signatureNeeds(pre, [...signers.keys()]);
  const preUnmet = unmetRules(preRules).filter((r) => r.document === 'root');
  const request = one(args, 'request');
  if (preUnmet.length > 0 && request !== undefined && !dryRun) {
    // The holders still to sign get a signing request (server/requests/change-request.ts).
    return (await import('../../requests/change-request.js')).writeChangeRequest(io, {
      reqFile: resolvePath(io, request), backend, current, plan: pre, ring, generated, json, now: t,
      saveNewKeys: async () => (generated.length > 0 ? saveNewKeys(ring, generated, pre, resolvePath(io, out ?? ''), args.flags.has('overwrite')) : undefined),
      who: one(args, 'who') ?? io.env['USER'] ?? 'unnamed operator', ...(one(args, 'note') !== undefined ? { note: one(args, 'note') as string } : {}),
    });
  }
  // A Factory stages what the keys given can sign (partly signed roots are accepted, rule 23); other admins add theirs with `sign --factory`.
  const factoryPartial = factory && !dryRun;
  if (preUnmet.length > 0 && !factoryPartial) return printNeeds(io, json, pre, preUnmet, preRules);

  // The base the target says to start from (a Factory stages version + 1 in a transaction).
  const begun = await backend.begin(changelog ?? 'Change TUF keys');
  const client = backend.kind === 'factory' || backend.kind === 'practice' ? (backend as FoundriesBackend).client : undefined;
  try {
    let base = begun.base;
    let extra: Partial<ChangeContext> = { bumpVersion: begun.bumpVersion };
    if (begun.polisId !== undefined) extra.polisId = begun.polisId;
    if (begun.prodTargetsThreshold !== undefined) extra.prodTargetsThreshold = begun.prodTargetsThreshold;
    let currentOnlineTargets: string | undefined;
    if (client !== undefined) {
      // Online keys first (fioctl rotate-all-keys' order): the Factory generates them in the staged roots (E14).
      const online = asked.find((a) => a.kind === 'rotate-online-keys');
      if (online !== undefined && online.kind === 'rotate-online-keys') {
        const roles = online.roles.length > 0 ? online.roles : [...ONLINE_ROLES];
        await client.genOnlineKeys({ txid: '', keyType: keyType === 'rsa' ? 'RSA' : 'ED25519', roles });
      }
      const updates = await client.updates();
      if (updates.updated !== undefined) {
        base = updates.updated.ciRoot;
        extra = { ...extra, onlineKeyIds: updates.updated.onlineKeys };
        const prodT = updates.updated.prodRoot?.roles['targets']?.threshold;
        if (prodT !== undefined) extra.prodTargetsThreshold = prodT;
      }
      currentOnlineTargets = updates.current.onlineKeys.targets;
    }
    heldSigners(ring, base, signers);
    const plan = planChanges(base, changes, ctxBase(base, extra));
    const rules = signatureNeeds(plan, [...signers.keys()]);
    const unmet = unmetRules(rules).filter((r) => r.document === 'root');
    // Not staged: a targets-key rotation (its production targets need the new key's signature), or a
    // new key owned by someone other than the caller (the Factory refuses that upload, rule 21).
    const unstageable = plan.newKeys.some((k) => (k.role === 'targets' && k.via === 'rotate-key') || (k.owner !== undefined && begun.polisId !== undefined && k.owner !== begun.polisId));
    if (unmet.length > 0 && (!factoryPartial || client === undefined || unstageable)) {
      await backend.abort();
      return printNeeds(io, json, plan, unmet, rules);
    }
    if (unmet.length > 0 && client !== undefined) {
      return (await import('../change-factory-partial.js')).stagePartly(io, {
        client, backend: backend as FoundriesBackend, plan, signers, json, generated,
        saveNewKeys: async () => (generated.length > 0 ? saveNewKeys(ring, generated, plan, resolvePath(io, out ?? ''), args.flags.has('overwrite')) : undefined),
      });
    }
    // Standard repositories: the metadata the changed roles sign, re-signed now (refused before anything is written).
    let metadata: MetadataFile[] = [];
    if (plan.dialect === 'spec' && metadataToResign(plan).length > 0) {
      if (!(backend instanceof LocalRepoBackend)) {
        throw new AppError('CHANGE_REFUSED', 'Changing targets, snapshot or timestamp keys re-signs the repository metadata; give the repository with --repo DIR.', 'Use --repo DIR instead of --root.');
      }
      metadata = await resignRepoMetadata({ newRoot: plan.newSigned, current: await backend.readRepoDocs(), roles: metadataToResign(plan), signers, now: t });
    }
    const signed = await signChangePlan(plan, signers);
    const root = parseRoot(signed.root as unknown as JsonObject, 'the new root');
    // On the way to a Factory, the rules only the Foundries API holds fail too.
    const report = verifyRootUpdate(current, root, { now: t, factory: backend.kind === 'factory' || backend.kind === 'practice' });
    if (!report.ok) {
      if (!json) io.stdout(formatReport(report) + '\n');
      throw new AppError('VERIFY_FAILED', `The new root does not pass the client rules: ${failedRules(report)}.`, 'Nothing was written or published; fix the cause above and run again.');
    }
    // Factory targets-key rotation: production tags and waves the old offline key signed, signed by the new one (read only here).
    let factoryTargets: Awaited<ReturnType<typeof resignProductionTargets>> | undefined;
    const newTargets = plan.newKeys.find((k) => k.role === 'targets' && k.via === 'rotate-key');
    if (client !== undefined && newTargets !== undefined) {
      const old = oldOfflineTargetsKey(current, currentOnlineTargets, ring);
      factoryTargets = await resignProductionTargets(client, old, { keyid: newTargets.keyid, signer: signers.get(newTargets.keyid) as Signer });
    }
    const users = await userDirectoryOf(backend); // a Factory's owners by name
    const diff = diffRoots(current, root, { now: t, heldKeyIds: [...signers.keys()], ...(users ? { users } : {}) });
    // fioctl keeps one active key of a role per archive file ("It is not allowed to store more than one active private key per file").
    const notes: string[] = [];
    if (plan.dialect === 'foundries') {
      const newRoot = parseRoot(signed.root as unknown as JsonObject);
      for (const role of ['root', 'targets'] as const) {
        const held = [...heldKeysForRole(ring, newRoot, role).keys()];
        const made = generated.filter((g) => g.role === role && newRoot.roles[role]?.keyids.includes(keyIdFor('foundries', g.key.publicKey))).length;
        if (held.length + made > 1) {
          notes.push(
            `${out ?? 'The new archive'} will hold ${held.length + made} active ${role} keys; fioctl refuses such a file. ` +
              'Give each holder their own key pair (copy it out of the archive into theirs) and keep one active key of a role per file.',
          );
        }
      }
    }
    const summary = {
      notes,
      dialect: plan.dialect,
      oldVersion: current.version,
      version: root.version,
      changes: plan.summary,
      newKeys: plan.newKeys.map((k) => ({ role: k.role, keyid: k.keyid, ...(k.owner !== undefined ? { owner: k.owner } : {}) })),
      removedKeyIds: plan.removedKeyIds,
      signedBy: signed.signedBy,
      ...(factoryTargets !== undefined ? { resignedTargets: { tags: factoryTargets.tags, waves: factoryTargets.waves } } : {}),
      ...(plan.serverOnlineKeys.length > 0 ? { onlineKeysGenerated: plan.serverOnlineKeys } : {}),
      expires: root.expires,
    };
    if (dryRun) {
      await backend.abort();
      if (json) io.stdout(JSON.stringify({ ok: true, dryRun: true, ...summary, metadata: metadata.map((m) => m.name), verify: report }) + '\n');
      else io.stdout(`${plan.summary.join('\n')}\n${formatDiff(diff)}\n${formatReport(report)}\nDry run: nothing was written or published.\n`);
      return 0;
    }
    // Invariant 1: every new private key is saved and proven before anything is published.
    let archive: { path: string; sha256: string } | undefined;
    if (generated.length > 0) archive = await saveNewKeys(ring, generated, plan, resolvePath(io, out ?? ''), args.flags.has('overwrite'));
    if (archive !== undefined && !json) io.stdout(`New key archive saved: ${archive.path} (sha256 ${archive.sha256}).\n`);

    if (factoryTargets !== undefined && client !== undefined && (factoryTargets.targetsSignatures !== undefined || factoryTargets.wavesSignatures !== undefined)) {
      // Stage the targets signatures with the roots; FoundriesBackend's upload keeps them (§6.3 rule 12) and applies.
      await client.put({
        txid: '',
        ciRoot: signed.root,
        prodRoot: signed.prod ?? signed.root,
        ...(factoryTargets.targetsSignatures !== undefined ? { targetsSignatures: factoryTargets.targetsSignatures } : {}),
        ...(factoryTargets.wavesSignatures !== undefined ? { wavesSignatures: factoryTargets.wavesSignatures } : {}),
      });
    }
    const published = await backend.publish(signed.root, signed.prod);
    const after = verifyRootUpdate(current, published.readBack, { now: t });
    if (!after.ok) {
      throw new AppError('PUBLISH_FAILED', `${backend.description} now serves root version ${published.readBack.version}, which does not verify against version ${current.version}.`, 'Do not discard any key archive; compare the published root with the one tuf-rotate signed.');
    }
    let written: string[] = [];
    if (metadata.length > 0 && backend instanceof LocalRepoBackend) written = await backend.publishMetadata(metadata);
    if (json) {
      io.stdout(JSON.stringify({ ok: true, ...summary, root: { path: published.location, version: published.readBack.version }, metadata: written, ...(archive ? { archive } : {}), verify: report }) + '\n');
    } else {
      io.stdout(`${plan.summary.join('\n')}\n${formatDiff(diff)}\n${formatReport(report)}\nRoot version ${published.readBack.version} published to ${published.location}.\n`);
      for (const n of notes) io.stdout(`Note: ${n}\n`);
      if (written.length > 0) io.stdout(`Re-signed: ${written.map((w) => path.basename(w)).join(', ')}.\n`);
    }
    return 0;
  } catch (e) {
    await backend.abort();
    throw e;
  }
}

/** The input archive (or an empty one) plus every generated key, written atomically 0600, read back and proven key by key. */
async function saveNewKeys(ring: KeyRing, generated: Generated[], plan: ChangePlan, outPath: string, overwrite: boolean): Promise<{ path: string; sha256: string }> {
  const archive = ring.archive ?? emptyArchive();
  const prefix = archivePrefix(archive.entries.map((e) => e.name));
  const additions: ArchiveAddition[] = [];
  const proofs: { keyid: string; publicKey: PublicKeyInfo; base: string }[] = [];
  for (const g of generated) {
    const entry = plan.newKeys.find((k) => k.keyid === keyIdFor(plan.dialect, g.key.publicKey));
    if (entry === undefined) continue;
    const base = `${prefix}${KEYS_DIR}fioctl-${g.role}-${entry.keyid}`;
    const files = archivePairFilesFor(plan.dialect, g.key, entry.keyJson);
    additions.push({ name: `${base}.pub`, data: files.pub }, { name: `${base}.sec`, data: files.sec });
    proofs.push({ keyid: entry.keyid, publicKey: g.key.publicKey, base });
  }
  const written = await writeKeyArchive(outPath, archive, additions, { overwrite, backup: true });
  for (const p of proofs) await readBackAndProve(written.path, written.sha256, p);
  return { path: written.path, sha256: written.sha256 };
}

