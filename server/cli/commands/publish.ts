/** `tuf-rotate publish`: publishes a separately signed root to a target, after verifying it. */
import { failedRules, publishRotation } from '../../ceremony.js';
import { AppError } from '../../errors.js';
import { toDocument } from '../../tuf/metadata.js';
import { verifyRootUpdate } from '../../tuf/verify.js';
import { one, parseArgs, required } from '../args.js';
import { formatReport } from '../format.js';
import type { CliIo } from '../io.js';
import { noPositionals, now, readRootFile } from '../io.js';
import { backendFor } from '../targets.js';

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['root', 'repo', 'factory', 'api-url', 'token-file', 'txid'], flags: ['json', 'yes'] });
  noPositionals(args);
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
