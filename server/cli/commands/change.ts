/**
 * `tuf-rotate change TARGET --keys … CHANGE…`: several key changes in one new root version, through
 * the change core (server/changes/): prepare → sign and verify → save every new key (archive read
 * back and proven) → publish — or exit 3 with who must still sign when the keys given do not meet
 * every threshold. This file parses the arguments and prints.
 */
import path from 'node:path';
import { isPkcs11Uri } from '../../signers/pkcs11-uri.js';
import { closeTokens, tokenOptions } from '../pkcs11-options.js';
import type { FoundriesBackend } from '../../backends/foundries.js';
import { failedRules } from '../../ceremony.js';
import { draftChanges, prepareChanges } from '../../changes/prepare.js';
import type { PreparedChanges } from '../../changes/prepare.js';
import { saveChangeKeys } from '../../changes/save.js';
import { signChanges } from '../../changes/sign.js';
import { publishChanges } from '../../changes/publish.js';
import { AppError } from '../../errors.js';
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

export { loadKeys, parseChanges } from '../change-args.js';

export const EXIT_WAITING = 3;

const OPTIONS = [
  'keys', 'out', 'repo', 'root', 'out-root', 'factory', 'api-url', 'token-file', 'changelog',
  'rotate-key', 'add-key', 'owner', 'key-file', 'remove-key', 'threshold', 'prod-targets-threshold',
  'refresh-expiry', 'rotate-online-keys', 'new-key-type', 'pkcs11-module', 'pin-file', 'request', 'who', 'note',
] as const;
const FLAGS = ['json', 'dry-run', 'overwrite'] as const;

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
  const overwrite = args.flags.has('overwrite');

  const willGenerate = asked.some((a) => a.kind === 'rotate-key' || (a.kind === 'add-key' && a.keyFile === undefined) || (a.kind === 'rotate-online-keys' && !factory));
  if (willGenerate && !dryRun && out === undefined) throw usage('--out is required: where to write the new key archive (the input archive plus the new keys).');
  const backend = await backendFor(args, io, 'change');
  const ring = await loadKeys(keysIn, tokens.pkcs11);
  const t = now(io);
  const progress = (step: string): void => io.onStep?.(step);
  const outPath = resolvePath(io, out ?? '');

  // New keys first (nothing is written yet); then the plan on the current root as a pre-check.
  const draft = await draftChanges(backend, ring, asked, { keyType, now: t, ...(changelog !== undefined ? { changelog } : {}), readKeyFile: (file) => publicKeyFile(io, file) }, progress);
  const saveNewKeys = async (plan: ChangePlan): Promise<{ path: string; sha256: string } | undefined> =>
    draft.generated.length > 0 ? saveChangeKeys({ ring, generated: draft.generated, plan }, outPath, { overwrite }, progress) : undefined;
  const request = one(args, 'request');
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

  // The base the target says to start from (a Factory stages version + 1 in a transaction).
  const prep = await prepareChanges(draft, progress);
  try {
    return await finish(prep);
  } catch (e) {
    await backend.abort();
    throw e;
  }

  async function finish(p: PreparedChanges): Promise<number> {
    const { plan, client } = p;
    if (p.unmet.length > 0 && (!factoryPartial || client === undefined || p.unstageable)) {
      await backend.abort();
      return printNeeds(io, json, plan, p.unmet, p.rules);
    }
    if (p.unmet.length > 0 && client !== undefined) {
      return (await import('../change-factory-partial.js')).stagePartly(io, {
        client, backend: backend as FoundriesBackend, plan, signers: p.signers, json, generated: p.generated, saveNewKeys: () => saveNewKeys(plan),
      });
    }
    const signed = await signChanges(p, progress, { archiveName: out ?? 'The new archive' });
    const report = signed.report;
    if (!report.ok) {
      if (!json) io.stdout(formatReport(report) + '\n');
      throw new AppError('VERIFY_FAILED', `The new root does not pass the client rules: ${failedRules(report)}.`, 'Nothing was written or published; fix the cause above and run again.');
    }
    const root = signed.parsed;
    const diff = diffRoots(p.current, root, { now: t, heldKeyIds: [...p.signers.keys()] });
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
      if (json) io.stdout(JSON.stringify({ ok: true, dryRun: true, ...summary, metadata: signed.metadata.map((m) => m.name), verify: report }) + '\n');
      else io.stdout(`${plan.summary.join('\n')}\n${formatDiff(diff)}\n${formatReport(report)}\nDry run: nothing was written or published.\n`);
      return 0;
    }
    // Invariant 1: every new private key is saved and proven before anything is published.
    const archive = await saveNewKeys(plan);
    if (archive !== undefined && !json) io.stdout(`New key archive saved: ${archive.path} (sha256 ${archive.sha256}).\n`);
    const published = await publishChanges(backend, p.current, signed, t, progress);
    const written = published.metadata;
    if (json) {
      io.stdout(JSON.stringify({ ok: true, ...summary, root: { path: published.location, version: published.readBack.version }, metadata: written, ...(archive ? { archive: { path: archive.path, sha256: archive.sha256 } } : {}), verify: report }) + '\n');
    } else {
      io.stdout(`${plan.summary.join('\n')}\n${formatDiff(diff)}\n${formatReport(report)}\nRoot version ${published.readBack.version} published to ${published.location}.\n`);
      for (const n of signed.notes) io.stdout(`Note: ${n}\n`);
      if (written.length > 0) io.stdout(`Re-signed: ${written.map((w) => path.basename(w)).join(', ')}.\n`);
    }
    return 0;
  }
}
