/** `tuf-rotate status`: how the rotation journaled in a folder ended. */
import { AppError } from '../../errors.js';
import { LocalRepoBackend } from '../../backends/local-repo.js';
import { readJournal, recoveryOf, withStep } from '../../journal.js';
import { exists } from '../../util/fs-atomic.js';
import { one, parseArgs, usage } from '../args.js';
import type { CliIo } from '../io.js';
import { resolvePath } from '../io.js';

/**
 * `tuf-rotate status [DIR] [--repo DIR]`: what the journal in DIR (the folder of the output
 * archive; default the current folder) says about the last rotation; with --repo, cross-checked
 * with what the repository serves (a run killed after publishing but before journaling it).
 */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['repo'], flags: ['json'] });
  if (args.positionals.length > 1) throw usage('status takes at most one folder.');
  const dir = resolvePath(io, args.positionals[0] ?? '.');
  if (!(await exists(dir))) throw new AppError('FILE_NOT_FOUND', `${dir} does not exist.`, 'Give the folder that holds the rotation (the folder of the output archive).');
  const journal = await readJournal(dir);
  let status = recoveryOf(journal);
  const repo = one(args, 'repo');
  if (repo !== undefined && journal?.step === 'saved' && journal.signedRoot) {
    const current = await new LocalRepoBackend(resolvePath(io, repo)).currentRoot();
    const same = JSON.stringify(current.signedJson) === JSON.stringify(journal.signedRoot.signed);
    if (current.version === journal.newVersion && same) {
      status = recoveryOf(withStep(journal, 'published', new Date(), { published: { location: resolvePath(io, repo), version: current.version } }));
    }
  }
  // A new root key in a hardware token: where it lives (its URI; no secret), and the no-backup acknowledgement.
  const token = journal?.newKeyToken;
  if (args.flags.has('json')) io.stdout(JSON.stringify({ ok: true, ...status, ...(token ? { newKeyToken: token } : {}) }) + '\n');
  else {
    io.stdout(`${status.state}: ${status.message}\n`);
    if (token) io.stdout(`The new root key is in a hardware token: ${token.uri}${token.noBackupAck !== undefined ? ` (no backup, acknowledged: "${token.noBackupAck}")` : ''}.\n`);
  }
  return 0;
}
