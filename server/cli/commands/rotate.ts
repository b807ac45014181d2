/** `tuf-rotate rotate`: a new root key, signed, verified, saved and published in one run. */
import path from 'node:path';
import { failedRules, prepareRotation, publishRotation, saveArchive, signAndVerify } from '../../ceremony.js';
import { AppError } from '../../errors.js';
import { withStep, writeJournal } from '../../journal.js';
import type { Journal } from '../../journal.js';
import { loadKeyRing } from '../../keyring.js';
import type { KeyRing } from '../../keyring.js';
import { diffRoots } from '../../tuf/diff.js';
import { toDocument } from '../../tuf/metadata.js';
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

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, {
    options: ['keys', 'out', 'repo', 'root', 'out-root', 'factory', 'api-url', 'token-file', 'key-type', 'changelog', 'expires', 'allow-expired', ...PKCS11_OPTIONS],
    flags: ['dry-run', 'json', 'overwrite', 'first-time', ...PKCS11_FLAGS],
  });
  noPositionals(args);
  try {
    return await rotate(args, io);
  } finally {
    await closeTokens();
  }
}

async function rotate(args: ParsedArgs, io: CliIo): Promise<number> {
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
  const backend = await backendFor(args, io, 'rotate');
  const ring: KeyRing = firstTime ? { source: 'the Factory (first-time)', archive: undefined, keys: [] } : await loadKeyRing(keysIn, token.pkcs11);
  const t = now(io);
  const progress = (step: string): void => io.onStep?.(step);
  const prep = await prepareRotation(backend, ring, {
    keyType,
    now: t,
    ...(changelog !== undefined ? { changelog } : {}),
    ...(expiresDays !== undefined ? { expiresDays } : {}),
    ...(allowExpired !== undefined ? { allowExpired: { reason: allowExpired } } : {}),
    ...(firstTime ? { firstTimeOut: outPath } : {}),
    ...(token.newKey !== undefined ? { newTokenKey: { uri: token.newKey, pkcs11: token.pkcs11, noBackupAck: token.ackNoBackup, existing: token.existing } } : {}),
  }, progress);
  const signed = await signAndVerify(prep, progress);
  const diff = diffRoots(prep.current, signed.root, { now: t, heldKeyIds: [...prep.signers.keys()] });
  if (!signed.report.ok) {
    await backend.abort();
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
  let saved;
  let journal: Journal;
  try {
    saved = await saveArchive(prep, ring, outPath, { overwrite: args.flags.has('overwrite') || firstTime }, progress);
    progress('saved');
    // Invariant 7: the journal (beside the archive, and in its folder) says the keys are saved.
    journal = withStep(
      {
        format: 1,
        step: 'planned',
        steps: [{ step: 'planned', at: t.toISOString() }],
        target: { kind: backend.kind, description: backend.description },
        oldVersion: prep.current.version,
        newVersion: signed.root.version,
        newKeyId: prep.plan.newKeyId,
        ...(prep.newToken ? { newKeyToken: { uri: prep.newToken.signer.uri, ...(prep.newToken.noBackupAck !== undefined ? { noBackupAck: prep.newToken.noBackupAck } : {}) } } : {}),
        oldRoot: toDocument(prep.current.signedJson, prep.current.signatures.map((x) => x.json)),
        signedRoot: signed.document,
        ...(signed.prod ? { prodRoot: signed.prod } : {}),
        ...(prep.expiredOverride ? { allowExpired: prep.expiredOverride } : {}), // #13 expired-root override
      },
      'saved',
      new Date(),
      { archive: { path: saved.path, sha256: saved.sha256 } },
    );
    await writeJournal(path.dirname(saved.path), journal);
  } catch (e) {
    await backend.abort();
    throw e;
  }
  if (!args.flags.has('json')) io.stdout(`New key archive saved: ${saved.path} (sha256 ${saved.sha256}).\n`);
  if (!args.flags.has('json') && prep.newToken) {
    io.stdout(`The new root key is in token "${prep.newToken.signer.token.label}": ${prep.newToken.signer.uri} (the archive holds its public key and this URI, no private key).\n`);
    if (prep.newToken.noBackupAck !== undefined) io.stdout(`No backup of this key: acknowledged ("${prep.newToken.noBackupAck}").\n`);
  }
  const published = await publishRotation(backend, prep.current, signed, t, progress);
  progress('published');
  await writeJournal(
    path.dirname(saved.path),
    withStep(journal, 'published', new Date(), { published: { location: published.location, version: published.readBack.version } }),
  ).catch(() => undefined); // the target says it too (see `tuf-rotate status`)
  if (args.flags.has('json')) {
    io.stdout(
      JSON.stringify({
        ok: true,
        ...summary,
        root: { path: published.location, version: published.readBack.version, rootKeyIds: summary.rootKeyIds },
        archive: { path: saved.path, sha256: saved.sha256 },
        ...(prep.newToken ? { newKeyToken: { uri: prep.newToken.signer.uri, label: prep.newToken.signer.token.label, ...(prep.newToken.noBackupAck !== undefined ? { noBackupAck: prep.newToken.noBackupAck } : {}) } } : {}),
        verify: signed.report,
      }) + '\n',
    );
  } else {
    io.stdout(`${formatDiff(diff)}\n${formatReport(signed.report)}\n`);
    io.stdout(`Root version ${published.readBack.version} published to ${published.location}.\n`);
  }
  return 0;
}
