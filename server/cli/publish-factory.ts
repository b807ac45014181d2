/**
 * `tuf-rotate publish --factory NAME`: applies a staged, fully signed transaction, or re-runs apply
 * after a partial apply, until both chains are published; then checks the served roots with the
 * device rules. Asks first on a terminal (naming the target and the version); `--yes` for scripts.
 * Exit 3 when the staged roots still lack signatures.
 */
import { AppError } from '../errors.js';
import { one } from './args.js';
import type { ParsedArgs } from './args.js';
import { confirm, factoryClient, formatReview, formatState } from './factory.js';
import { formatReport } from './format.js';
import type { CliIo } from './io.js';
import { now } from './io.js';

export async function publishFactory(args: ParsedArgs, io: CliIo): Promise<number> {
  const json = args.flags.has('json');
  const client = await factoryClient(args, io);
  const [{ applyFactory, reviewFactory }, { describeState }] = await Promise.all([import('../backends/foundries.js'), import('../backends/foundries-answers.js')]);
  const t = now(io);
  const txid = one(args, 'txid');
  const review = await reviewFactory(client, { now: t, ...(txid !== undefined ? { txid } : {}) });
  const st = review.state;
  if (st.status === 'NONE' && !st.partial) {
    if (json) io.stdout(JSON.stringify({ ok: true, outcome: 'nothing-staged', state: st }) + '\n');
    else io.stdout(`Nothing to publish: no TUF root updates are in progress on ${client.factory}.\n${formatState(st)}\n`);
    return 0;
  }
  if (st.status === 'STARTED' && !review.ready) {
    if (json) io.stdout(JSON.stringify({ ok: false, outcome: 'waiting', state: st, blocking: review.blocking }) + '\n');
    else io.stdout(formatReview(review) + '\n');
    io.stderr(`tuf-rotate: the staged TUF root updates of ${client.factory} cannot be applied yet: ${review.blocking[0] ?? 'not signed'}. Nothing was applied.\n`);
    return 3;
  }
  const version = review.staged?.ci.version ?? st.ci.version;
  const what = st.status === 'APPLYING' || st.partial ? 'Re-run apply to finish publishing' : 'Publish';
  await confirm(io, `${what} root version ${version} (CI and production) on FoundriesFactory ${client.factory} (${client.apiUrl})?`, args.flags.has('yes'));
  const r = await applyFactory(client, { now: t, review, ...(txid !== undefined ? { txid } : {}), ...(io.onStep ? { onStep: io.onStep } : {}) });
  if (r.outcome !== 'published') {
    throw new AppError('TARGET_CONFLICT', `Nothing was applied on ${client.factory}: ${describeState(r.outcome === 'waiting' ? r.review.state : r.state)}`, 'Read the state again with `tuf-rotate review`.');
  }
  if (json) {
    io.stdout(JSON.stringify({ ok: true, outcome: 'published', version: r.version, state: r.state, verify: r.verify }) + '\n');
  } else {
    io.stdout(`${formatReport(r.verify.ci)}\n${formatReport(r.verify.prod)}\n`);
    io.stdout(`Root version ${r.version} published on ${client.factory}: CI and production both serve it, and both pass the device rules.\n`);
  }
  return 0;
}
