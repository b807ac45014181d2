/** `tuf-rotate status`: the work folder's ceremony, reconciled with its target, and which key archive is valid. */
import { findCeremony, existingWorkDir } from '../../ceremony/find.js';
import { AppError } from '../../errors.js';
import { one, parseArgs, usage } from '../args.js';
import type { CliIo } from '../io.js';
import { backendFor } from '../targets.js';

/**
 * `tuf-rotate status [WORKDIR] [--work DIR] [--repo DIR | --factory NAME … | --root R --out-root N]
 * [--ceremony ID] [--json]`: the current ceremony of the work folder (default the per-user data
 * folder), or the newest one for the target named, read against what the target serves now.
 */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['work', 'repo', 'factory', 'api-url', 'token-file', 'root', 'out-root', 'ceremony'], flags: ['json'] });
  if (args.positionals.length > 1) throw usage('status takes at most one work folder.');
  if (args.positionals.length === 1 && one(args, 'work') !== undefined) throw usage('Give the work folder once: as WORKDIR or with --work.');
  const work = existingWorkDir(args.positionals[0] ?? one(args, 'work'), io.env, io.cwd);
  const named = ['repo', 'factory', 'root'].some((k) => one(args, k) !== undefined);
  const backend = named ? await backendFor(args, io, 'rotate') : undefined;
  const id = one(args, 'ceremony');
  const tokenFile = one(args, 'token-file');
  const found = await findCeremony(work, {
    who: io.env['USER'] ?? 'operator',
    env: io.env as NodeJS.ProcessEnv,
    ...(tokenFile !== undefined ? { tokenFile } : {}),
    ...(backend ? { backend } : {}),
    ...(id !== undefined ? { id } : {}),
  });
  if (found && backend && id !== undefined) {
    // A named ceremony must be for the named target (never answer about another one).
    const { refOf, sameTarget } = await import('../../ceremony/reconcile.js');
    if (!sameTarget(found.ceremony.data.target.ref, refOf(backend))) {
      throw new AppError('BAD_USAGE', `Ceremony ${id} is for ${found.ceremony.data.target.description}, not ${backend.description}.`, 'Leave out the target, or the ceremony id.');
    }
  }
  if (!found) {
    let version: number | undefined;
    if (backend) version = (await backend.currentRoot()).version;
    const target = backend ? { kind: backend.kind, description: backend.description } : undefined;
    const message = backend
      ? `No ceremony in ${work} rotated ${backend.description}; it serves root version ${version ?? '?'}. This folder cannot tell which key archive signs for it.`
      : `There is no ceremony in ${work}.`;
    if (args.flags.has('json')) io.stdout(JSON.stringify({ ok: true, state: 'none', validArchive: null, ...(version !== undefined ? { version } : {}), ...(target ? { target } : {}), work, message }) + '\n');
    else io.stdout(`none: ${message}\n`);
    return 0;
  }
  const r = found.reconciled;
  if (args.flags.has('json')) {
    io.stdout(JSON.stringify({ ok: true, ...r, ceremony: r.id, work }) + '\n');
  } else {
    io.stdout(
      `${r.state}: ${r.message}\n` +
        `Valid key archive: ${r.validArchive ?? 'not one of this ceremony\'s'}${r.validArchiveSha256 !== undefined ? ` (sha256 ${r.validArchiveSha256})` : ''}\n` +
        `Target: ${r.target.description}${r.version !== undefined ? `, serving version ${r.version}` : ''}${r.txid !== undefined ? `, transaction ${r.txid}` : ''}\n` +
        `Work folder: ${work}, ceremony ${r.id}\n`,
    );
    // A new root key in a hardware token: where it lives (its URI; no secret), and the no-backup acknowledgement.
    const token = r.newKeyToken;
    if (token) io.stdout(`The new root key is in a hardware token: ${token.uri}${token.noBackupAck !== undefined ? ` (no backup, acknowledged: "${token.noBackupAck}")` : ''}.\n`);
  }
  return 0;
}
