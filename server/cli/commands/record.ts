/** `tuf-rotate record verify RECORD.json [--repo DIR]`: the signed ceremony record's chain and signatures. */
import path from 'node:path';
import { AppError } from '../../errors.js';
import { parseRecord, verifyRecord } from '../../requests/record.js';
import { shortKeyId } from '../../tuf/diff.js';
import { exists, readFileLimited } from '../../util/fs-atomic.js';
import { one, parseArgs, usage } from '../args.js';
import type { CliIo } from '../io.js';
import { resolvePath } from '../io.js';

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['repo'], flags: ['json'] });
  const [sub, file, ...more] = args.positionals;
  if (sub !== 'verify' || file === undefined || more.length > 0) throw usage('Usage: tuf-rotate record verify RECORD.json [--repo DIR].');
  const recFile = resolvePath(io, file);
  if (!(await exists(recFile))) throw new AppError('FILE_NOT_FOUND', `${recFile} does not exist.`, 'Give the record file tuf-rotate publish wrote.');
  const rec = parseRecord(await readFileLimited(recFile, 8 * 1024 * 1024, 'ceremony record'));
  let served: Uint8Array | undefined;
  const repo = one(args, 'repo');
  if (repo !== undefined) {
    const numbered = path.join(resolvePath(io, repo), 'metadata', `${rec.signed.published.version}.root.json`);
    if (!(await exists(numbered))) {
      throw new AppError('RECORD_TAMPERED', `the repository has no root version ${rec.signed.published.version}, which the record says was published`, 'Check that --repo is the repository of this ceremony.');
    }
    served = new Uint8Array(await readFileLimited(numbered, 1024 * 1024, 'root metadata'));
  }
  const r = verifyRecord(rec, served);
  if (args.flags.has('json')) {
    io.stdout(JSON.stringify({ ...r, request: rec.signed.request, sas: rec.signed.sas }) + '\n');
  } else {
    io.stdout(
      [
        `Ceremony record for request ${rec.signed.sas}: ${r.events} events, hash chain intact (head ${r.head.slice(0, 16)}…).`,
        `Signed by root key(s) ${r.signedBy.map(shortKeyId).join(', ')} of the published root v${r.publishedVersion} (its root threshold is ${r.rootThreshold}).`,
        r.anchored ? `The repository serves exactly the root v${r.publishedVersion} the record names.` : 'Not compared with a repository: give --repo DIR to check the record against what is published.',
      ].join('\n') + '\n',
    );
  }
  return 0;
}
