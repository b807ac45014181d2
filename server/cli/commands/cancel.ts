/** `tuf-rotate cancel --factory NAME`: cancels the open TUF root updates (any admin may), and says what the Factory serves. */
import { parseArgs } from '../args.js';
import { FACTORY_OPTIONS, factoryClient, formatState } from '../factory.js';
import type { CliIo } from '../io.js';
import { noPositionals } from '../io.js';

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: [...FACTORY_OPTIONS], flags: ['json'] });
  noPositionals(args);
  const client = await factoryClient(args, io);
  const { cancelFactory } = await import('../../backends/foundries.js');
  const r = await cancelFactory(client);
  if (args.flags.has('json')) {
    io.stdout(JSON.stringify({ ok: true, canceled: r.canceled, state: r.state }) + '\n');
    return 0;
  }
  io.stdout(
    r.canceled
      ? `The staged TUF root updates of ${client.factory} were canceled. ${r.message}\n${formatState(r.state)}\n`
      : `Nothing to cancel: no TUF root updates are in progress on ${client.factory}.\n${formatState(r.state)}\n`,
  );
  return 0;
}
