/** `tuf-rotate review --factory NAME`: the Factory's TUF root updates, staged against served, and whether they may be applied. */
import { one, parseArgs } from '../args.js';
import { FACTORY_OPTIONS, factoryClient, formatReview } from '../factory.js';
import type { CliIo } from '../io.js';
import { noPositionals, now } from '../io.js';

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: [...FACTORY_OPTIONS, 'txid'], flags: ['json'] });
  noPositionals(args);
  const client = await factoryClient(args, io);
  const { reviewFactory } = await import('../../backends/foundries.js');
  const txid = one(args, 'txid');
  const r = await reviewFactory(client, { now: now(io), ...(txid !== undefined ? { txid } : {}) });
  if (args.flags.has('json')) {
    io.stdout(
      JSON.stringify({
        ok: true,
        state: r.state,
        ready: r.ready,
        blocking: r.blocking,
        ...(r.ci ? { ci: { ...r.ci, lines: undefined } } : {}),
        ...(r.prod ? { prod: { ...r.prod, lines: undefined } } : {}),
      }) + '\n',
    );
  } else {
    io.stdout(formatReview(r) + '\n');
  }
  return 0;
}
