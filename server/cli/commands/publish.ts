/**
 * `tuf-rotate publish`: `publish WORKDIR` finishes the interrupted publish of the work folder's
 * ceremony (keys saved, root signed, not published); `publish --root NEW.json --repo DIR`
 * publishes a separately signed root after verifying it.
 */
import { failedRules, publishRotation } from '../../ceremony.js';
import { existingWorkDir, findCeremony } from '../../ceremony/find.js';
import { lockWork } from '../../ceremony/lock.js';
import { backendFromRef, refOf, sameTarget } from '../../ceremony/reconcile.js';
import { publishSaved } from '../../ceremony/steps.js';
import type { Backend } from '../../backends/backend.js';
import type { Ceremony } from '../../ceremony/ceremony.js';
import type { Reconciled } from '../../ceremony/reconcile.js';
import { AppError } from '../../errors.js';
import { toDocument } from '../../tuf/metadata.js';
import { verifyRootUpdate } from '../../tuf/verify.js';
import { one, parseArgs, required, usage } from '../args.js';
import { confirm } from '../factory.js';
import { formatReport } from '../format.js';
import type { CliIo } from '../io.js';
import { now, readRootFile } from '../io.js';
import { backendFor } from '../targets.js';

export async function run(argv: string[], io: CliIo): Promise<number> {
  if (argv[1] !== undefined && /\.json$/i.test(argv[1])) return (await import('../../requests/cli.js')).runRequestPublish(argv, io);
  const args = parseArgs(argv, { options: ['root', 'repo', 'factory', 'api-url', 'token-file', 'txid', 'work', 'ceremony', 'out-root'], flags: ['json', 'yes'] });
  if (args.positionals.length > 1) throw usage('publish takes at most one work folder.');
  if (args.positionals.length === 1 || one(args, 'work') !== undefined) return finish(args.positionals[0] ?? one(args, 'work') ?? '', args, io);
  if (one(args, 'factory') !== undefined && one(args, 'root') === undefined) {
    // Apply the Factory's staged, signed transaction, or re-run apply after a partial apply.
    return (await import('../publish-factory.js')).publishFactory(args, io);
  }
  const next = await readRootFile(io, required(args, 'root'));
  if (one(args, 'factory') !== undefined) {
    throw new AppError('TARGET_NOT_CONFIGURED', 'Publishing a separately signed root to a Factory is not supported yet: a Factory rotation also needs the signed production root.', 'Run tuf-rotate rotate --factory NAME on the machine that holds the keys.');
  }
  const backend = await backendFor(args, io, 'publish');
  const current = await backend.currentRoot();
  if (current.version === next.version && JSON.stringify(current.signedJson) === JSON.stringify(next.signedJson)) {
    // Running publish again after it succeeded: nothing to do, and not a failure.
    if (args.flags.has('json')) io.stdout(JSON.stringify({ ok: true, alreadyPublished: true, location: backend.description, version: current.version }) + '\n');
    else io.stdout(`Root version ${current.version} is already published to ${backend.description}; nothing to do.\n`);
    return 0;
  }
  const t = now(io);
  const report = verifyRootUpdate(current, next, { now: t, factory: backend.kind === 'factory' || backend.kind === 'practice' });
  if (!report.ok) {
    if (!args.flags.has('json')) io.stdout(formatReport(report) + '\n');
    throw new AppError('VERIFY_FAILED', `${required(args, 'root')} does not pass the client rules against the target's version ${current.version}: ${failedRules(report)}.`, 'Nothing was published. Sign the root against the target\'s current version.');
  }
  const doc = toDocument(next.signedJson, next.signatures.map((s) => s.json));
  const result = await publishRotation(backend, current, { document: doc, prod: undefined }, t);
  if (args.flags.has('json')) io.stdout(JSON.stringify({ ok: true, location: result.location, version: result.readBack.version }) + '\n');
  else io.stdout(`Root version ${result.readBack.version} published to ${result.location}.\n`);
  return 0;
}

/** A change run stopped after its keys were saved: the roots, the re-signed metadata or the Factory targets signatures, from the ceremony. */
async function finishChanges(work: string, ceremony: Ceremony, reconciled: Reconciled, given: Backend | undefined, args: ReturnType<typeof parseArgs>, io: CliIo): Promise<number> {
  const tokenFile = one(args, 'token-file');
  const ref = ceremony.data.target.ref;
  const refWithUrl = (ref.kind === 'factory' || ref.kind === 'practice') && one(args, 'api-url') !== undefined ? { ...ref, apiUrl: one(args, 'api-url') as string } : ref;
  const backend = given ?? (await backendFromRef(refWithUrl, { env: io.env as NodeJS.ProcessEnv, ...(tokenFile !== undefined ? { tokenFile } : {}) }));
  if (!backend) throw new AppError('TARGET_NOT_CONFIGURED', `Cannot reach ${ceremony.data.target.description} from the ceremony alone.`, 'Name the target (--repo DIR, or --factory NAME with --token-file).');
  await confirm(io, `Publish the changes of ceremony ${ceremony.id} (root version ${reconciled.newVersion ?? '?'}) to ${ceremony.data.target.description}?`, args.flags.has('yes'));
  const { publishSavedChanges } = await import('../../ceremony/change-steps.js');
  const result = await publishSavedChanges(ceremony, backend, now(io), (step) => io.onStep?.(step));
  const saved = ceremony.savedArchive();
  const valid = saved ? { validArchive: saved.path, validArchiveSha256: saved.sha256 } : { validArchive: reconciled.validArchive };
  if (args.flags.has('json')) {
    io.stdout(JSON.stringify({ ok: true, state: 'published', ceremony: ceremony.id, work, version: result.readBack.version, location: result.location, published: result.published, metadata: result.metadata, ...valid }) + '\n');
  } else {
    io.stdout(`Root version ${result.readBack.version} published to ${result.location} (${result.published.join(', ')}); the valid key archive is now ${valid.validArchive ?? '?'}.\n`);
  }
  return 0;
}

/** `publish WORKDIR [TARGET]`: reconcile the ceremony, then publish its saved root if that is what is left. */
async function finish(workArg: string, args: ReturnType<typeof parseArgs>, io: CliIo): Promise<number> {
  const work = existingWorkDir(workArg, io.env, io.cwd);
  // One process at a time changes a work folder (a running serve holds it for its lifetime).
  const release = await lockWork(work, 'publish', { who: io.env['USER'] ?? 'operator', now: () => now(io) });
  try {
    return await finishIn(work, args, io);
  } finally {
    release();
  }
}

async function finishIn(work: string, args: ReturnType<typeof parseArgs>, io: CliIo): Promise<number> {
  const tokenFile = one(args, 'token-file');
  const named = one(args, 'repo') !== undefined || one(args, 'factory') !== undefined;
  const given = named ? await backendFor(args, io, 'publish') : undefined;
  const id = one(args, 'ceremony');
  const found = await findCeremony(work, {
    who: io.env['USER'] ?? 'operator',
    env: io.env as NodeJS.ProcessEnv,
    ...(tokenFile !== undefined ? { tokenFile } : {}),
    ...(given ? { backend: given } : {}),
    ...(id !== undefined ? { id } : {}),
  });
  if (!found) throw new AppError('SESSION_STATE', `There is no ceremony${given ? ` for ${given.description}` : ''} in ${work}.`, 'Run tuf-rotate status to see the work folder\'s ceremonies.');
  const { ceremony, reconciled } = found;
  if (given && !sameTarget(ceremony.data.target.ref, refOf(given))) {
    throw new AppError('BAD_USAGE', `Ceremony ${ceremony.id} is for ${ceremony.data.target.description}, not ${given.description}.`, 'Leave out the target: the ceremony knows it.');
  }
  const json = args.flags.has('json');
  const say = (extra: Record<string, unknown>, text: string): void => {
    if (json) io.stdout(JSON.stringify({ ok: true, state: ceremony.state, validArchive: reconciled.validArchive, ceremony: ceremony.id, work, ...extra }) + '\n');
    else io.stdout(text + '\n');
  };
  if (ceremony.state === 'published' && ceremony.data.run === 'changes' && ceremony.data.proposal?.changes?.metadata !== undefined) {
    // Killed between the root and the re-signed metadata: the root is served, the metadata may not be.
    const backend = given ?? (await backendFromRef(ceremony.data.target.ref, { env: io.env as NodeJS.ProcessEnv }));
    const { finishChangeMetadata } = await import('../../ceremony/change-steps.js');
    const written = backend ? await finishChangeMetadata(ceremony, backend) : [];
    if (written.length > 0) {
      say({ version: reconciled.version, metadata: written }, `The root was already published; the re-signed metadata is now written too (${written.length} files). ${reconciled.message}`);
      return 0;
    }
  }
  if (ceremony.state === 'published') {
    say({ version: reconciled.version, alreadyPublished: true }, `Nothing left to do: ${reconciled.message}`);
    return 0;
  }
  const kind = ceremony.data.target.ref.kind;
  if (ceremony.data.run === 'changes' && ceremony.state === 'keys-saved') return finishChanges(work, ceremony, reconciled, given, args, io);
  if ((kind === 'factory' || kind === 'practice') && (ceremony.state === 'keys-saved' || ceremony.state === 'partly-applied' || ceremony.state === 'staged' || ceremony.state === 'signed')) {
    // A Factory: apply the staged, signed transaction, or re-run apply until both chains are published.
    const ref = ceremony.data.target.ref;
    const options = new Map<string, string[]>([
      ['factory', [ref.factory]],
      ['api-url', [one(args, 'api-url') ?? ref.apiUrl]],
      ...(tokenFile !== undefined ? [['token-file', [tokenFile]] as [string, string[]]] : []),
      ...(ceremony.data.txid !== undefined ? [['txid', [ceremony.data.txid]] as [string, string[]]] : []),
    ]);
    const flags = new Set([...args.flags].filter((f) => f === 'yes' || f === 'json'));
    const code = await (await import('../publish-factory.js')).publishFactory({ command: 'publish', positionals: [], options, flags }, io);
    // Reconcile again so the ceremony records what the Factory now serves.
    await findCeremony(work, { who: io.env['USER'] ?? 'operator', env: io.env as NodeJS.ProcessEnv, id: ceremony.id, ...(tokenFile !== undefined ? { tokenFile } : {}) }).catch(() => undefined);
    return code;
  }
  if (ceremony.state !== 'keys-saved') {
    throw new AppError('SESSION_STATE', `Ceremony ${ceremony.id} is ${ceremony.state}: ${reconciled.message}`, ceremony.state === 'partly-applied' ? 'Re-applying a Factory transaction is not available in this build yet; keep both key archives.' : 'There is no saved root to publish; run tuf-rotate status.');
  }
  const backend = given ?? (await backendFromRef(ceremony.data.target.ref, { env: io.env as NodeJS.ProcessEnv, ...(tokenFile !== undefined ? { tokenFile } : {}) }));
  if (!backend) throw new AppError('TARGET_NOT_CONFIGURED', `Cannot reach ${ceremony.data.target.description} from the ceremony alone.`, 'Name the target (--repo DIR, or --factory NAME with --token-file).');
  const newVersion = ceremony.proposalRoot('root')?.version;
  await confirm(io, `Publish root version ${newVersion ?? '?'} to ${ceremony.data.target.description} (ceremony ${ceremony.id})?`, args.flags.has('yes'));
  const progress = (step: string): void => io.onStep?.(step);
  const result = await publishSaved(ceremony, backend, now(io), progress);
  const saved = ceremony.savedArchive();
  say(
    { state: 'published', version: result.readBack.version, location: result.location, validArchive: saved?.path ?? null, ...(saved ? { validArchiveSha256: saved.sha256 } : {}) },
    `Root version ${result.readBack.version} published to ${result.location}; the valid key archive is now ${saved?.path ?? '?'}.`,
  );
  return 0;
}
