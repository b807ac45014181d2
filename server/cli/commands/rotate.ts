/** `tuf-rotate rotate`: a new root key, signed, verified, saved and published in one run, as a ceremony in the work folder. */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { failedRules, prepareRotation, publishRotation, saveArchive, signAndVerify } from '../../ceremony.js';
import type { Ceremony } from '../../ceremony/ceremony.js';
import { checkOutputs } from '../../ceremony/outputs.js';
import type { OutputSpec } from '../../ceremony/outputs.js';
import { recordPlanned, recordPublished, recordSaved, recordSigned, startCeremony } from '../../ceremony/steps.js';
import { CeremonyStore } from '../../ceremony/store.js';
import { lockWork } from '../../ceremony/lock.js';
import { resolveWorkDir } from '../../ceremony/workdir.js';
import { AppError } from '../../errors.js';
import { heldKeysForRole, loadKeyRing } from '../../keyring.js';
import type { KeyRing } from '../../keyring.js';
import { userDirectoryOf } from '../../backends/user-directory.js';
import { diffRoots } from '../../tuf/diff.js';
import type { KeyAlgorithm } from '../../tuf/model.js';
import { exists } from '../../util/fs-atomic.js';
import { choice, intOption, one, parseArgs, usage } from '../args.js';
import type { ParsedArgs } from '../args.js';
import { closeTokens, PKCS11_FLAGS, PKCS11_OPTIONS, tokenOptions } from '../pkcs11-options.js';
import { isPkcs11Uri } from '../../signers/pkcs11-uri.js';
import { formatDiff, formatReport } from '../format.js';
import type { CliIo } from '../io.js';
import { noPositionals, now, resolvePath } from '../io.js';
import { backendFor } from '../targets.js';

/** The keys given, as the ceremony records them: a single archive by path and SHA-256. */
async function inputKeysOf(paths: string[], ring: KeyRing): Promise<{ source: string; path?: string; sha256?: string }> {
  const only = paths.length === 1 ? paths[0] : undefined;
  if (only !== undefined && ring.archive) {
    const sha256 = createHash('sha256').update(await fs.readFile(only)).digest('hex');
    return { source: ring.source, path: only, sha256 };
  }
  return { source: ring.source };
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, {
    options: ['keys', 'out', 'repo', 'root', 'out-root', 'factory', 'api-url', 'token-file', 'key-type', 'changelog', 'expires', 'work', 'abandon', 'allow-expired', ...PKCS11_OPTIONS],
    flags: ['dry-run', 'json', 'overwrite', 'first-time', ...PKCS11_FLAGS],
  });
  noPositionals(args);
  const locks: Array<() => void> = [];
  try {
    return await rotate(args, io, locks);
  } finally {
    for (const release of locks) release();
    await closeTokens();
  }
}

async function rotate(args: ParsedArgs, io: CliIo, locks: Array<() => void>): Promise<number> {
  const dryRun = args.flags.has('dry-run');
  const token = tokenOptions(args, io);
  if (one(args, 'key-type') !== undefined && one(args, 'new-key-type') !== undefined) throw usage('Give --key-type or --new-key-type, not both.');
  const keyType = choice<KeyAlgorithm>(args, one(args, 'new-key-type') !== undefined ? 'new-key-type' : 'key-type', ['ed25519', 'rsa', 'ecdsa'], 'ed25519');
  const expiresDays = intOption(args, 'expires', 1, 3650);
  const changelog = one(args, 'changelog');
  const allowExpired = one(args, 'allow-expired');
  const keysIn = (args.options.get('keys') ?? []).map((k) => (isPkcs11Uri(k) ? k : resolvePath(io, k)));
  if (token.newKey !== undefined && !token.existing && dryRun) throw usage('--dry-run cannot be combined with --new-key pkcs11:…: the key would be generated in the token.');
  const firstTime = args.flags.has('first-time');
  if (firstTime && one(args, 'factory') === undefined) throw usage('--first-time applies to --factory only.');
  if (keysIn.length === 0 && !firstTime) throw usage('--keys is required: the key archive (.tgz) or PEM private key files.');
  if (keysIn.length > 0 && firstTime) throw usage('--first-time takes no --keys: the first root key comes from the Factory.');
  const out = one(args, 'out');
  if ((!dryRun || firstTime) && out === undefined) throw usage('--out is required: where to write the new key archive.');
  const outPath = resolvePath(io, out ?? '');
  if (firstTime && (await exists(outPath))) {
    throw new AppError('FILE_EXISTS', `${outPath} already exists.`, "Choose a new path: a first-time rotation never writes over a file that may hold another Factory's keys.");
  }
  // Invariant 2: every output is checked before any key is generated or anything is written.
  const inputs = [...keysIn.filter((k) => !isPkcs11Uri(k)), ...(one(args, 'root') !== undefined ? [resolvePath(io, one(args, 'root') ?? '')] : [])];
  const outputs: OutputSpec[] = [];
  if (out !== undefined) outputs.push({ path: outPath, what: 'the new key archive (--out)', overwrite: args.flags.has('overwrite') && !firstTime });
  const outRoot = one(args, 'out-root');
  if (outRoot !== undefined && !dryRun) outputs.push({ path: resolvePath(io, outRoot), what: 'the new root file (--out-root)', overwrite: false });
  checkOutputs(inputs, outputs);
  // A Factory, keys that cannot meet the current root threshold: rotate is the shortcut for `change --rotate-key root`, which stages partly and exits 3.
  if (one(args, 'factory') !== undefined && !dryRun && !firstTime && token.newKey === undefined && allowExpired === undefined && !keysIn.some(isPkcs11Uri)) {
    const shortOf = await rootKeysShort(args, io, keysIn);
    if (shortOf) return (await import('./change.js')).run(changeArgsFor(args, keyType), io);
  }
  const work = dryRun ? undefined : await resolveWorkDir({ work: one(args, 'work'), env: io.env, cwd: io.cwd });
  // One process at a time changes a work folder (a running serve holds it for its lifetime).
  if (work !== undefined) locks.push(await lockWork(work, 'rotate', { who: io.env['USER'] ?? 'operator', now: () => now(io) }));
  const backend = await backendFor(args, io, 'rotate');
  const ring: KeyRing = firstTime ? { source: 'the Factory (first-time)', archive: undefined, keys: [] } : await loadKeyRing(keysIn, token.pkcs11);
  const t = now(io);
  const progress = (step: string): void => io.onStep?.(step);

  let ceremony: Ceremony | undefined;
  if (work !== undefined) {
    const abandon = one(args, 'abandon');
    // The keys given are recorded as the valid archive only when they hold a key of the root served now.
    const given = firstTime ? undefined : await inputKeysOf(keysIn, ring);
    ceremony = await startCeremony(new CeremonyStore(work), backend, {
      who: io.env['USER'] ?? 'operator',
      now: () => now(io),
      env: io.env as NodeJS.ProcessEnv,
      changes: [{ op: 'rotate-key', role: 'root', keyType }],
      ...(abandon !== undefined ? { abandon } : {}),
      inputKeys: (current) => (given && heldKeysForRole(ring, current).size > 0 ? given : undefined),
    });
  }
  const cancelled = async (why: string): Promise<void> => {
    await backend.abort();
    if (ceremony && (ceremony.state === 'draft' || ceremony.state === 'staged' || ceremony.state === 'signed')) {
      await ceremony.transition('cancelled', 'cancelled', { reason: why }).catch(() => undefined);
    }
  };

  let prep;
  try {
    prep = await prepareRotation(backend, ring, {
      keyType,
      now: t,
      ...(changelog !== undefined ? { changelog } : {}),
      ...(expiresDays !== undefined ? { expiresDays } : {}),
      ...(allowExpired !== undefined ? { allowExpired: { reason: allowExpired } } : {}),
      ...(firstTime ? { firstTimeOut: outPath } : {}),
      ...(token.newKey !== undefined ? { newTokenKey: { uri: token.newKey, pkcs11: token.pkcs11, noBackupAck: token.ackNoBackup, existing: token.existing } } : {}),
    }, progress);
  } catch (e) {
    if (ceremony) await ceremony.transition('cancelled', 'plan failed', { reason: e instanceof AppError ? e.message : 'the plan step failed; nothing was published' }).catch(() => undefined);
    throw e;
  }
  if (ceremony) {
    const inputKeys = firstTime ? { source: 'the first root key from the Factory', path: outPath } : await inputKeysOf(keysIn, ring);
    await recordPlanned(ceremony, prep, backend, { plannedPath: outPath, inputKeys });
  }
  const signed = await signAndVerify(prep, progress);
  const users = await userDirectoryOf(backend); // a Factory's owners by name
  const diff = diffRoots(prep.current, signed.root, { now: t, heldKeyIds: [...prep.signers.keys()], ...(users ? { users } : {}) });
  if (!signed.report.ok) {
    await cancelled('the new root did not pass the client rules; nothing was written or published');
    if (args.flags.has('json')) io.stdout(JSON.stringify({ ok: false, verify: signed.report }) + '\n');
    else io.stdout(formatReport(signed.report) + '\n');
    throw new AppError('VERIFY_FAILED', `The new root does not pass the client rules: ${failedRules(signed.report)}.`, 'Nothing was written or published; fix the cause above and run again.');
  }
  const summary = {
    dialect: prep.plan.dialect,
    oldVersion: prep.current.version,
    version: signed.root.version,
    rootKeyIds: signed.root.roles['root']?.keyids ?? [],
    newKeyId: prep.plan.newKeyId,
    removedKeyIds: prep.plan.removedKeyIds,
    expires: signed.root.expires,
    ...(prep.expiredOverride ? { allowExpired: prep.expiredOverride } : {}),
  };
  if (dryRun) {
    await backend.abort();
    if (args.flags.has('json')) io.stdout(JSON.stringify({ ok: true, dryRun: true, ...summary, verify: signed.report, diff: { ...diff, lines: undefined } }) + '\n');
    else io.stdout(`${formatDiff(diff)}\n${formatReport(signed.report)}\nDry run: nothing was written or published.\n`);
    return 0;
  }
  if (ceremony) await recordSigned(ceremony, prep, signed);
  let saved;
  try {
    saved = await saveArchive(prep, ring, outPath, { overwrite: args.flags.has('overwrite') || firstTime }, progress);
    // The ceremony says where the new key is before anything is published (invariant 1).
    if (ceremony) await recordSaved(ceremony, saved, new Date());
    progress('saved');
  } catch (e) {
    await cancelled('the new key archive could not be saved; nothing was published');
    throw e;
  }
  if (!args.flags.has('json')) io.stdout(`New key archive saved: ${saved.path} (sha256 ${saved.sha256}).\n`);
  if (!args.flags.has('json') && prep.newToken) {
    io.stdout(`The new root key is in token "${prep.newToken.signer.token.label}": ${prep.newToken.signer.uri} (the archive holds its public key and this URI, no private key).\n`);
    if (prep.newToken.noBackupAck !== undefined) io.stdout(`No backup of this key: acknowledged ("${prep.newToken.noBackupAck}").\n`);
  }
  const published = await publishRotation(backend, prep.current, signed, t, progress);
  progress('published');
  // The target says it too: a ceremony killed here reconciles to published on its next open.
  if (ceremony) await recordPublished(ceremony, published.location, published.readBack.version, new Date()).catch(() => undefined);
  if (args.flags.has('json')) {
    io.stdout(
      JSON.stringify({
        ok: true,
        ...summary,
        root: { path: published.location, version: published.readBack.version, rootKeyIds: summary.rootKeyIds },
        archive: { path: saved.path, sha256: saved.sha256 },
        ...(prep.newToken ? { newKeyToken: { uri: prep.newToken.signer.uri, label: prep.newToken.signer.token.label, ...(prep.newToken.noBackupAck !== undefined ? { noBackupAck: prep.newToken.noBackupAck } : {}) } } : {}),
        ...(ceremony ? { ceremony: ceremony.id, work } : {}),
        verify: signed.report,
      }) + '\n',
    );
  } else {
    io.stdout(`${formatDiff(diff)}\n${formatReport(signed.report)}\n`);
    io.stdout(`Root version ${published.readBack.version} published to ${published.location}.\n`);
    if (ceremony) io.stdout(`Ceremony ${ceremony.id} in the work folder ${work ?? ''}; the valid key archive is ${saved.path}.\n`);
  }
  return 0;
}

/** Whether the keys given hold fewer root keys than the current root's threshold (a Factory with several admins). */
async function rootKeysShort(args: ParsedArgs, io: CliIo, keysIn: string[]): Promise<boolean> {
  const backend = await backendFor(args, io, 'rotate');
  const current = await backend.currentRoot();
  const ring = await loadKeyRing(keysIn);
  return heldKeysForRole(ring, current).size < (current.roles['root']?.threshold ?? 1);
}

/** `rotate --factory …` as `change --factory … --rotate-key root` (same target, keys, output, work folder). */
function changeArgsFor(args: ParsedArgs, keyType: KeyAlgorithm): string[] {
  const out: string[] = ['change'];
  for (const name of ['factory', 'api-url', 'token-file', 'keys', 'out', 'changelog', 'work', 'abandon']) {
    for (const v of args.options.get(name) ?? []) out.push(`--${name}`, v);
  }
  out.push('--rotate-key', 'root', '--new-key-type', keyType);
  const days = one(args, 'expires');
  if (days !== undefined) out.push('--refresh-expiry', days);
  for (const f of ['json', 'overwrite']) if (args.flags.has(f)) out.push(`--${f}`);
  return out;
}
