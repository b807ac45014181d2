/**
 * `tuf-rotate diff OLD.json NEW.json [--factory NAME …]`: the semantic and line diff of two roots;
 * with --factory, key owners and changelog authors are named from that Factory's users.
 */
import { diffRoots } from '../../tuf/diff.js';
import { parseArgs, usage } from '../args.js';
import { FACTORY_OPTIONS, factoryClient } from '../factory.js';
import { formatDiff } from '../format.js';
import type { CliIo } from '../io.js';
import { now, readRootFile } from '../io.js';

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: [...FACTORY_OPTIONS], flags: ['json'] });
  if (args.positionals.length !== 2) throw usage('diff takes two root files: OLD.json NEW.json.');
  const [a, b] = args.positionals as [string, string];
  const [oldRoot, newRoot] = [await readRootFile(io, a), await readRootFile(io, b)];
  let users;
  if (args.options.has('factory')) {
    const { readUserDirectory } = await import('../../backends/user-directory.js');
    users = await readUserDirectory(await factoryClient(args, io));
  } else if (args.options.has('api-url') || args.options.has('token-file')) {
    throw usage('--api-url and --token-file go with --factory NAME.');
  }
  const d = diffRoots(oldRoot, newRoot, { now: now(io), ...(users ? { users } : {}) });
  io.stdout((args.flags.has('json') ? JSON.stringify(d) : formatDiff(d) + '\n' + d.lines.filter((l) => l.op !== ' ').map((l) => `${l.op} ${l.text}`).join('\n')) + '\n');
  return 0;
}
