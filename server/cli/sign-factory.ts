/**
 * `tuf-rotate sign --factory NAME [--api-url URL] [--token-file F] --keys … [--txid TXID] [--json]`:
 * another admin adds their signatures to the Factory's staged TUF root updates (fioctl's
 * `keys tuf updates sign`). Shows the staged roots as a diff with their SAS (reviewFactory), signs
 * with the keys given that either root role requires, verifies each signature, re-reads the staged
 * roots right before the upload and merges. Exit 0 when every threshold is met, else 3.
 */
import { describeNeed, factorySas, signFactory, unmetNeeds } from '../factory-sign.js';
import { closeKeyRing } from '../keyring.js';
import { sasBlock, sasLine } from '../requests/sas.js';
import { one, parseArgs, usage } from './args.js';
import { loadKeys } from './change-args.js';
import { FACTORY_OPTIONS, factoryClient, formatReview } from './factory.js';
import type { CliIo } from './io.js';
import { noPositionals, now, resolvePath } from './io.js';

export const EXIT_WAITING = 3;

export async function signFactoryCommand(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: [...FACTORY_OPTIONS, 'keys', 'txid'], flags: ['json'] });
  noPositionals(args);
  const json = args.flags.has('json');
  const keysIn = (args.options.get('keys') ?? []).map((k) => resolvePath(io, k));
  if (keysIn.length === 0) throw usage('--keys is required: your key archive (.tgz) or PEM private key file.');
  const client = await factoryClient(args, io);
  const txid = one(args, 'txid') ?? '';
  const { reviewFactory } = await import('../backends/foundries.js');
  const review = await reviewFactory(client, { now: now(io), ...(txid !== '' ? { txid } : {}) });
  const sas = review.staged !== undefined ? factorySas(review.staged.ci) : undefined;
  if (!json) {
    io.stdout(formatReview(review) + '\n');
    if (sas !== undefined) io.stdout(sasBlock(sas) + '\n');
  }
  const ring = await loadKeys(keysIn);
  let result;
  try {
    result = await signFactory(client, ring, { txid, ...(sas !== undefined ? { expectSas: sas.hex } : {}) });
  } finally {
    closeKeyRing(ring);
  }
  const unmet = unmetNeeds(result.needs);
  if (json) {
    io.stdout(JSON.stringify({ ok: result.complete, waiting: !result.complete, sas: result.sas, signedWith: result.signedWith, uploads: result.uploads, signatures: result.needs, missing: unmet }) + '\n');
  } else {
    io.stdout(
      [
        `Signed the staged CI and production roots with ${result.signedWith.length} key(s): ${result.signedWith.map((k) => k.slice(0, 8)).join(', ')}; each signature verified, merged with the staged ones, uploaded.`,
        ...result.needs.map((n) => `  ${describeNeed(n)}`),
        result.complete
          ? `Every threshold is met. Apply: tuf-rotate publish --factory ${client.factory}${txid !== '' ? ` --txid ${txid}` : ''}`
          : 'Still waiting for the signatures above (each holder runs tuf-rotate sign --factory with their own token and keys).',
        `SAS: ${sasLine(result.sas)}`,
      ].join('\n') + '\n',
    );
  }
  return result.complete ? 0 : EXIT_WAITING;
}
