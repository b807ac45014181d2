/** `tuf-rotate diff OLD.json NEW.json`: the semantic and line diff of two roots. */
import { diffRoots } from '../../tuf/diff.js';
import { parseArgs, usage } from '../args.js';
import { formatDiff } from '../format.js';
import type { CliIo } from '../io.js';
import { now, readRootFile } from '../io.js';

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: [], flags: ['json'] });
  if (args.positionals.length !== 2) throw usage('diff takes two root files: OLD.json NEW.json.');
  const [a, b] = args.positionals as [string, string];
  const d = diffRoots(await readRootFile(io, a), await readRootFile(io, b), { now: now(io) });
  io.stdout((args.flags.has('json') ? JSON.stringify(d) : formatDiff(d) + '\n' + d.lines.filter((l) => l.op !== ' ').map((l) => `${l.op} ${l.text}`).join('\n')) + '\n');
  return 0;
}
