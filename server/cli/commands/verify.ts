/** `tuf-rotate verify`: walks a chain of roots from a trusted one, as a client would. */
import { LocalRepoBackend } from '../../backends/local-repo.js';
import type { Root } from '../../tuf/model.js';
import { verifyChain } from '../../tuf/verify/chain.js';
import { one, parseArgs, required, usage } from '../args.js';
import { expiredMessage, formatChain } from '../format.js';
import type { CliIo } from '../io.js';
import { now, readRootFile, resolvePath } from '../io.js';

/**
 * `--at`: an ISO date (2027-01-31, midnight UTC) or date-time with `Z` or an offset
 * (2027-01-31T12:00:00Z). Anything else is a usage error.
 */
export function parseAt(text: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/i.exec(text);
  const bad = (): Error => usage(`--at must be an ISO date or date-time such as 2027-01-31 or 2027-01-31T12:00:00Z, not "${text.slice(0, 40)}".`);
  if (!m) throw bad();
  const [, y, mo, d, h, mi, sec, frac, zone] = m;
  if (h !== undefined && zone === undefined) throw bad();
  // The calendar date must exist (Date would roll 2027-02-30 over to March 2).
  const date = new Date(`${y}-${mo}-${d}T00:00:00Z`);
  if (Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== `${y}-${mo}-${d}`) throw bad();
  if (h === undefined) return date;
  if (Number(h) > 23 || Number(mi) > 59 || Number(sec ?? 0) > 59) throw bad();
  const at = new Date(`${y}-${mo}-${d}T${h}:${mi}:${sec ?? '00'}${(frac ?? '').slice(0, 4)}${(zone ?? 'Z').toUpperCase()}`);
  if (Number.isNaN(at.getTime())) throw bad();
  return at;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['trusted', 'repo', 'at'], flags: ['json'] });
  const atText = one(args, 'at');
  const at = atText === undefined ? now(io) : parseAt(atText);
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
  const report = verifyChain(trusted, chain, { now: at });
  if (args.flags.has('json')) {
    io.stdout(
      JSON.stringify({
        ok: report.ok,
        at: at.toISOString(),
        finalVersion: report.finalVersion,
        failedAt: report.failedAt ?? null,
        expired: report.expired ?? null,
        steps: report.steps,
        warnings: report.warnings,
        matrix: report.matrix,
      }) + '\n',
    );
  } else {
    io.stdout(formatChain(report, at) + '\n');
  }
  if (report.expired) {
    io.stderr(`tuf-rotate: ${expiredMessage(report.expired, at)}\n`);
    return 1;
  }
  if (!report.ok) {
    io.stderr(`tuf-rotate: the chain is broken at version ${report.failedAt ?? '?'}; a client would stop at version ${report.finalVersion}. See the failing rules above.\n`);
    return 1;
  }
  return 0;
}
