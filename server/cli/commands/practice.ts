/** `tuf-rotate practice DIR`: a practice repository (spec) or practice factory folder (foundries). */
import path from 'node:path';
import { AppError } from '../../errors.js';
import type { KeyAlgorithm } from '../../tuf/model.js';
import { choice, one, parseArgs, usage } from '../args.js';
import type { ParsedArgs } from '../args.js';
import type { CliIo } from '../io.js';
import { now, resolvePath } from '../io.js';

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['dialect', 'key-type', 'name'], flags: ['json', 'first-time'] });
  if (args.positionals.length !== 1) throw usage('practice takes one folder: tuf-rotate practice DIR.');
  const dir = resolvePath(io, args.positionals[0] ?? '');
  const dialect = choice(args, 'dialect', ['foundries', 'spec'] as const, 'spec');
  const keyType = choice<KeyAlgorithm>(args, 'key-type', ['ed25519', 'rsa', 'ecdsa'], dialect === 'spec' ? 'ed25519' : 'rsa');
  if (dialect === 'foundries') {
    return practiceFactory(args, io, dir, keyType);
  }
  const { createSpecPractice } = await import('../../practice/spec-repo.js');
  const made = await createSpecPractice(dir, { keyType, now: now(io) });
  if (args.flags.has('json')) {
    io.stdout(JSON.stringify({ ok: true, dialect, target: made.repo, archive: made.archive, onlineKeys: made.onlineKeys, rootKeyId: made.rootKeyId }) + '\n');
  } else {
    io.stdout(`Practice repository: ${made.repo}\nKey archive: ${made.archive}\nTry: tuf-rotate rotate --keys ${made.archive} --out ${path.join(dir, 'offline-keys.new.tgz')} --repo ${made.repo}\n`);
  }
  return 0;
}

/** `tuf-rotate practice DIR --dialect foundries`: a practice factory's folder and the owner's key archive. */
export async function practiceFactory(args: ParsedArgs, io: CliIo, dir: string, keyType: KeyAlgorithm): Promise<number> {
  if (keyType === 'ecdsa') {
    throw new AppError('KEY_TYPE_UNSUPPORTED', 'A FoundriesFactory root key is RSA or Ed25519, not ECDSA.', 'Use --key-type rsa or --key-type ed25519.');
  }
  const { createPracticeFactory } = await import('../../practice/create.js');
  const name = one(args, 'name');
  const made = await createPracticeFactory(dir, { rootKeyType: keyType, firstTime: args.flags.has('first-time'), ...(name !== undefined ? { name } : {}) });
  if (args.flags.has('json')) {
    io.stdout(JSON.stringify({ ok: true, dialect: 'foundries', target: made.dir, factory: made.factory, archive: made.archivePath ?? null, tokenFile: made.tokenFile }) + '\n');
  } else {
    io.stdout(
      `Practice factory "${made.factory}" in ${made.dir}\n` +
        (made.archivePath ? `Key archive: ${made.archivePath}\n` : 'First-time factory: the first root key comes from the API.\n') +
        `Serve its API: tuf-rotate practice-factory ${made.dir}\n`,
    );
  }
  return 0;
}
