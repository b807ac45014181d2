/**
 * `tuf-rotate change TARGET --keys … CHANGE…`: several key changes in one new root version, through
 * the change core (server/changes/): prepare → sign and verify → save every new key (archive read
 * back and proven) → publish — or exit 3 with who must still sign when the keys given do not meet
 * every threshold. This file parses the arguments and prints.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isPkcs11Uri } from '../../signers/pkcs11-uri.js';
import { closeTokens, tokenOptions } from '../pkcs11-options.js';
import type { FoundriesBackend } from '../../backends/foundries.js';
import { userDirectoryOf } from '../../backends/user-directory.js';
import { failedRules } from '../../ceremony.js';
import { draftChanges, prepareChanges } from '../../changes/prepare.js';
import type { PreparedChanges } from '../../changes/prepare.js';
import { saveChangeKeys } from '../../changes/save.js';
import { signChanges } from '../../changes/sign.js';
import { publishChanges } from '../../changes/publish.js';
import type { Ceremony } from '../../ceremony/ceremony.js';
import { changesRecord, recordChangesPlanned, recordChangesPublished, recordChangesSaved, recordChangesSigned } from '../../ceremony/change-steps.js';
import { lockWork } from '../../ceremony/lock.js';
import { startCeremony } from '../../ceremony/steps.js';
import { CeremonyStore } from '../../ceremony/store.js';
import { resolveWorkDir } from '../../ceremony/workdir.js';
import { AppError } from '../../errors.js';
import { heldKeysForRole } from '../../keyring.js';
import type { KeyRing } from '../../keyring.js';
import { describeRule } from '../../tuf/changes.js';
import type { ChangePlan, SignatureRule } from '../../tuf/changes.js';
import { diffRoots } from '../../tuf/diff.js';
import type { KeyAlgorithm } from '../../tuf/model.js';
import { loadKeys, parseChanges, publicKeyFile } from '../change-args.js';
import { choice, one, parseArgs, usage } from '../args.js';
import { formatDiff, formatReport } from '../format.js';
import type { CliIo } from '../io.js';
import { noPositionals, now, resolvePath } from '../io.js';
import { backendFor } from '../targets.js';


export const EXIT_WAITING = 3;

const OPTIONS = [
  'keys', 'out', 'repo', 'root', 'out-root', 'factory', 'api-url', 'token-file', 'changelog',
  'rotate-key', 'add-key', 'owner', 'key-file', 'remove-key', 'threshold', 'prod-targets-threshold',
  'refresh-expiry', 'rotate-online-keys', 'new-key-type', 'pkcs11-module', 'pin-file', 'request', 'who', 'note', 'work', 'abandon', 'allow-expired',
] as const;
const FLAGS = ['json', 'dry-run', 'overwrite'] as const;

/** The keys given, as the ceremony records them: the first archive (the one --out copies) by path and SHA-256. */
async function inputKeysOf(paths: string[], ring: KeyRing): Promise<{ source: string; path?: string; sha256?: string }> {
  const only = paths.find((p) => /\.(tgz|tar\.gz)$/i.test(p));
  if (only !== undefined && ring.archive) return { source: ring.source, path: only, sha256: createHash('sha256').update(await fs.readFile(only)).digest('hex') };
  return { source: ring.source };
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
  const locks: Array<() => void> = [];
  try {
    return await runChange(argv, io, locks);
  } finally {
    for (const release of locks) release();
    await closeTokens(); // token sessions (--keys pkcs11:…) end with the command
  }
}

async function runChange(argv: string[], io: CliIo, locks: Array<() => void>): Promise<number> {
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
  const overwrite = args.flags.has('overwrite');

  const willGenerate = asked.some((a) => a.kind === 'rotate-key' || (a.kind === 'add-key' && a.keyFile === undefined) || (a.kind === 'rotate-online-keys' && !factory));
  if (willGenerate && !dryRun && out === undefined) throw usage('--out is required: where to write the new key archive (the input archive plus the new keys).');
  const request = one(args, 'request');
  // The work folder's ceremony records the run (not a dry run, not a signing request): one process, one ceremony at a time.
  const work = dryRun || request !== undefined ? undefined : await resolveWorkDir({ work: one(args, 'work'), env: io.env, cwd: io.cwd });
  if (work !== undefined) locks.push(await lockWork(work, 'change', { who: io.env['USER'] ?? 'operator', now: () => now(io) }));
  const backend = await backendFor(args, io, 'change');
  const ring = await loadKeys(keysIn, tokens.pkcs11);
  const t = now(io);
  const progress = (step: string): void => io.onStep?.(step);
  const outPath = resolvePath(io, out ?? '');

  // New keys first (nothing is written yet); then the plan on the current root as a pre-check.
  const allowExpired = one(args, 'allow-expired');
  const draft = await draftChanges(
    backend,
    ring,
    asked,
    { keyType, now: t, ...(changelog !== undefined ? { changelog } : {}), ...(allowExpired !== undefined ? { allowExpired: { reason: allowExpired } } : {}), readKeyFile: (file) => publicKeyFile(io, file) },
    progress,
  );
  let ceremony: Ceremony | undefined;
  const saveNewKeys = async (plan: ChangePlan): Promise<{ path: string; sha256: string } | undefined> =>
    draft.generated.length > 0 ? saveChangeKeys({ ring, generated: draft.generated, plan }, outPath, { overwrite }, progress) : undefined;
  if (draft.unmet.length > 0 && request !== undefined && !dryRun) {
    // The holders still to sign get a signing request (server/requests/change-request.ts).
    return (await import('../../requests/change-request.js')).writeChangeRequest(io, {
      reqFile: resolvePath(io, request), backend, current: draft.current, plan: draft.plan, ring, generated: draft.generated, json, now: t,
      saveNewKeys: () => saveNewKeys(draft.plan),
      who: one(args, 'who') ?? io.env['USER'] ?? 'unnamed operator', ...(one(args, 'note') !== undefined ? { note: one(args, 'note') as string } : {}),
    });
  }
  // A Factory stages what the keys given can sign (partly signed roots are accepted, rule 23); other admins add theirs with `sign --factory`.
  const factoryPartial = factory && !dryRun;
  if (draft.unmet.length > 0 && !factoryPartial) return printNeeds(io, json, draft.plan, draft.unmet, draft.rules);

  const inputKeys = await inputKeysOf(keysIn, ring);
  if (work !== undefined) {
    const abandon = one(args, 'abandon');
    ceremony = await startCeremony(new CeremonyStore(work), backend, {
      who: io.env['USER'] ?? 'operator',
      now: () => now(io),
      env: io.env as NodeJS.ProcessEnv,
      changes: changesRecord(asked, keyType),
      current: draft.current,
      ...(abandon !== undefined ? { abandon } : {}),
      inputKeys: (current) => (heldKeysForRole(ring, current).size > 0 ? inputKeys : undefined),
    });
  }
  const cancelled = async (why: string): Promise<void> => {
    if (ceremony && (ceremony.state === 'draft' || ceremony.state === 'staged' || ceremony.state === 'signed')) {
      await ceremony.transition('cancelled', 'cancelled', { reason: why }).catch(() => undefined);
    }
  };
  // The base the target says to start from (a Factory stages version + 1 in a transaction).
  let prep: PreparedChanges;
  try {
    prep = await prepareChanges(draft, progress);
  } catch (e) {
    await cancelled(e instanceof AppError ? e.message : 'the plan step failed; nothing was published');
    throw e;
  }
  try {
    return await finish(prep);
  } catch (e) {
    const saved = ceremony?.state === 'keys-saved';
    if (!saved) await backend.abort();
    await cancelled(e instanceof AppError ? e.message : 'the change run failed before any key was saved; nothing was published');
    throw e;
  }

  async function finish(p: PreparedChanges): Promise<number> {
    const { plan, client } = p;
    if (p.unmet.length > 0 && (!factoryPartial || client === undefined || p.unstageable)) {
      await backend.abort();
      await cancelled('the keys given cannot meet every threshold; nothing was written or published');
      return printNeeds(io, json, plan, p.unmet, p.rules);
    }
    if (ceremony) await recordChangesPlanned(ceremony, p, { plannedPath: outPath, inputKeys });
    if (p.unmet.length > 0 && client !== undefined) {
      // Staged partly signed for the other admins: the ceremony stays staged with its transaction; the archive is recorded once proven.
      const c = ceremony;
      return (await import('../change-factory-partial.js')).stagePartly(io, {
        client, backend: backend as FoundriesBackend, plan, signers: p.signers, json, generated: p.generated,
        saveNewKeys: async () => {
          const a = await saveNewKeys(plan);
          if (a !== undefined && c) {
            const archive = { path: a.path, sha256: a.sha256, provenAt: new Date().toISOString() };
            await c.update('new key archive saved, read back and proven; the roots are staged partly signed for the other admins', { newKeys: c.data.newKeys.map((k) => ({ ...k, archive })) }, { path: a.path, sha256: a.sha256 });
          }
          return a;
        },
      });
    }
    const signed = await signChanges(p, progress, { archiveName: out ?? 'The new archive' });
    const report = signed.report;
    if (!report.ok) {
      if (!json) io.stdout(formatReport(report) + '\n');
      throw new AppError('VERIFY_FAILED', `The new root does not pass the client rules: ${failedRules(report)}.`, 'Nothing was written or published; fix the cause above and run again.');
    }
    const root = signed.parsed;
    const users = await userDirectoryOf(p.backend); // a Factory's owners by name
    const diff = diffRoots(p.current, root, { now: t, heldKeyIds: [...p.signers.keys()], ...(users ? { users } : {}) });
    const ft = signed.factoryTargets;
    const summary = {
      notes: signed.notes,
      dialect: plan.dialect,
      oldVersion: p.current.version,
      version: root.version,
      changes: plan.summary,
      newKeys: plan.newKeys.map((k) => ({ role: k.role, keyid: k.keyid, ...(k.owner !== undefined ? { owner: k.owner } : {}) })),
      removedKeyIds: plan.removedKeyIds,
      signedBy: signed.signedBy,
      ...(ft !== undefined ? { resignedTargets: { tags: ft.tags, waves: ft.waves } } : {}),
      ...(plan.serverOnlineKeys.length > 0 ? { onlineKeysGenerated: plan.serverOnlineKeys } : {}),
      expires: root.expires,
    };
    if (dryRun) {
      await backend.abort();
      await cancelled('dry run');
      if (json) io.stdout(JSON.stringify({ ok: true, dryRun: true, ...summary, metadata: signed.metadata.map((m) => m.name), verify: report }) + '\n');
      else io.stdout(`${plan.summary.join('\n')}\n${formatDiff(diff)}\n${formatReport(report)}\nDry run: nothing was written or published.\n`);
      return 0;
    }
    if (ceremony) await recordChangesSigned(ceremony, p, signed);
    // Invariant 1: every new private key is saved and proven before anything is published.
    const archive = await saveNewKeys(plan);
    // The ceremony says where the new keys are before anything is published.
    if (ceremony) {
      if (archive !== undefined) await recordChangesSaved(ceremony, { ...archive, bytes: 0, newKeyBase: '' }, new Date());
      else await ceremony.transition('keys-saved', 'no new key to save (nothing generated)', {});
    }
    progress('saved');
    if (archive !== undefined && !json) io.stdout(`New key archive saved: ${archive.path} (sha256 ${archive.sha256}).\n`);
    const published = await publishChanges(backend, p.current, signed, t, progress);
    progress('published');
    // The target says it too: a run killed here reconciles to published on its next open.
    if (ceremony) await recordChangesPublished(ceremony, published, new Date()).catch(() => undefined);
    const written = published.metadata;
    if (json) {
      io.stdout(JSON.stringify({ ok: true, ...summary, root: { path: published.location, version: published.readBack.version }, metadata: written, published: published.published, ...(archive ? { archive: { path: archive.path, sha256: archive.sha256 } } : {}), ...(ceremony ? { ceremony: ceremony.id, work } : {}), verify: report }) + '\n');
    } else {
      io.stdout(`${plan.summary.join('\n')}\n${formatDiff(diff)}\n${formatReport(report)}\nRoot version ${published.readBack.version} published to ${published.location}.\n`);
      for (const n of signed.notes) io.stdout(`Note: ${n}\n`);
      if (written.length > 0) io.stdout(`Re-signed: ${written.map((w) => path.basename(w)).join(', ')}.\n`);
      if (ceremony) io.stdout(`Ceremony ${ceremony.id} in the work folder ${work ?? ''}${archive !== undefined ? `; the valid key archive is ${archive.path}` : ''}.\n`);
    }
    return 0;
  }
}
