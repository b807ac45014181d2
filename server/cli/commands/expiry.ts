/**
 * `tuf-rotate expiry`: when every root a target serves expires and what renews it; exit 1 when
 * anything the offline keys must renew expires within --within days (for cron and CI), and
 * optionally an iCalendar file of reminders.
 */
import path from 'node:path';
import { expiryReport, formatExpiryReport, rootInput, DEFAULT_WITHIN_DAYS } from '../../expiry/expiry.js';
import type { ExpiryInput } from '../../expiry/expiry.js';
import { gatherExpiry } from '../../expiry/gather.js';
import { expiryCalendar } from '../../expiry/ics.js';
import { writeFileAtomic } from '../../util/fs-atomic.js';
import { intOption, one, parseArgs, usage } from '../args.js';
import type { CliIo } from '../io.js';
import { now, readRootFile, resolvePath } from '../io.js';
import { backendFor } from '../targets.js';

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['repo', 'factory', 'api-url', 'token-file', 'within', 'ics'], flags: ['json'] });
  const within = intOption(args, 'within', 0, 3650) ?? DEFAULT_WITHIN_DAYS;
  const icsOut = one(args, 'ics');
  const targetGiven = one(args, 'repo') !== undefined || one(args, 'factory') !== undefined;
  if (targetGiven && args.positionals.length > 0) throw usage('Give either a target (--repo DIR or --factory NAME) or root files, not both.');
  if (!targetGiven && args.positionals.length === 0) throw usage('Name a target (--repo DIR or --factory NAME) or one or more ROOT.json files.');

  let target: string;
  let inputs: ExpiryInput[];
  let notes: string[] = [];
  if (targetGiven) {
    const backend = await backendFor(args, io, 'expiry');
    target = backend.description;
    ({ inputs, notes } = await gatherExpiry(backend));
  } else {
    inputs = [];
    for (const file of args.positionals) inputs.push(rootInput(await readRootFile(io, file), resolvePath(io, file)));
    target = `root file${args.positionals.length === 1 ? '' : 's'} ${args.positionals.map((f) => path.basename(f)).join(', ')}`;
  }
  const t = now(io);
  const report = expiryReport(target, inputs, t, within);
  let icsPath: string | undefined;
  if (icsOut !== undefined) {
    icsPath = resolvePath(io, icsOut);
    // Public facts only; a reminder file is rewritten on every run (e.g. from cron).
    await writeFileAtomic(icsPath, expiryCalendar(report, t), { mode: 0o644, overwrite: true });
  }
  if (args.flags.has('json')) {
    io.stdout(JSON.stringify({ ok: !report.due, ...report, notes, ...(icsPath !== undefined ? { ics: icsPath } : {}) }) + '\n');
  } else {
    io.stdout(formatExpiryReport(report) + '\n');
    for (const n of notes) io.stdout(`Note: ${n}\n`);
    if (icsPath !== undefined) io.stdout(`Reminders written to ${icsPath}.\n`);
  }
  return report.due ? 1 : 0;
}
