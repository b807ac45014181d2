/** `tuf-rotate verify`: walks a chain of roots from a trusted one, as a client would. */
import { LocalRepoBackend } from '../../backends/local-repo.js';
import type { Root } from '../../tuf/model.js';
import { verifyChain } from '../../tuf/verify.js';
import { one, parseArgs, required, usage } from '../args.js';
import { formatChain } from '../format.js';
import type { CliIo } from '../io.js';
import { now, readRootFile, resolvePath } from '../io.js';

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['trusted', 'repo'], flags: ['json'] });
  const trusted = await readRootFile(io, required(args, 'trusted'));
  const repo = one(args, 'repo');
  let chain: Root[];
  if (repo !== undefined) {
    if (args.positionals.length > 0) throw usage('Give either --repo or root files, not both.');
    chain = (await new LocalRepoBackend(resolvePath(io, repo)).history()).filter((r) => r.version > trusted.version);
  } else {
    if (args.positionals.length === 0) throw usage('Give the roots to verify (NEW.json...) or --repo DIR.');
    chain = [];
    for (const f of args.positionals) chain.push(await readRootFile(io, f));
  }
  const report = verifyChain(trusted, chain, { now: now(io) });
  if (args.flags.has('json')) {
    io.stdout(JSON.stringify({ ok: report.ok, finalVersion: report.finalVersion, failedAt: report.failedAt ?? null, steps: report.steps, warnings: report.warnings }) + '\n');
  } else {
    io.stdout(formatChain(report) + '\n');
  }
  if (!report.ok) {
    io.stderr(`tuf-rotate: the chain is broken at version ${report.failedAt ?? '?'}; a client would stop at version ${report.finalVersion}. See the failing rules above.\n`);
    return 1;
  }
  return 0;
}
