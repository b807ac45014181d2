/**
 * `tuf-rotate practice-factory DIR [--port N] [--users A,B] [--strict-waves] [--fault F]`: the practice
 * factory's API alone, on loopback; `--users` adds admins (own token file and polis-id), `--strict-waves`
 * refuses targets-key rotations while a wave is active (§6 rule 32), `--fault` rehearses a failure.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { exists } from '../../util/fs-atomic.js';
import { intOption, one, parseArgs, usage } from '../args.js';
import type { CliIo } from '../io.js';

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['port', 'name', 'users', 'fault', 'wave'], flags: ['json', 'strict-waves'] });
  if (args.positionals.length !== 1) throw usage('practice-factory takes one folder: tuf-rotate practice-factory DIR.');
  const dir = path.resolve(io.cwd, args.positionals[0] ?? '');
  const port = intOption(args, 'port', 0, 65535) ?? 0;
  const { createPracticeFactory } = await import('../../practice/create.js');
  const { buildPracticeFactory } = await import('../../practice/factory-server.js');
  const { describeFaults, parsePracticeFaults } = await import('../../practice/faults.js');
  const faults = parsePracticeFaults(args.options.get('fault') ?? []);
  const { FACTORY_FILE, TOKEN_FILE } = await import('../../practice/state.js');
  if (!(await exists(path.join(dir, FACTORY_FILE)))) {
    const name = one(args, 'name');
    await createPracticeFactory(dir, { ...(name !== undefined ? { name } : {}) });
  }
  const usersOpt = one(args, 'users');
  const { addPracticeUsers, addPracticeWave } = await import('../../practice/create.js');
  for (const wave of args.options.get('wave') ?? []) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(wave)) throw usage(`"${wave}" is not a usable wave name (letters, digits, ".", "_", "-").`);
    await addPracticeWave(dir, wave);
  }
  const users = await addPracticeUsers(dir, usersOpt === undefined ? [] : usersOpt.split(',').map((u) => u.trim()).filter((u) => u !== ''));
  const config = JSON.parse(await fs.readFile(path.join(dir, FACTORY_FILE), 'utf8')) as { name: string };
  const strictWaves = args.flags.has('strict-waves');
  const app = await buildPracticeFactory(dir, { faults, strictWaves });
  await app.listen({ host: '127.0.0.1', port });
  const addr = app.server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  const url = `http://127.0.0.1:${bound}`;
  const tokenFile = path.join(dir, TOKEN_FILE);
  const faultText = describeFaults(faults);
  if (args.flags.has('json')) {
    io.stdout(JSON.stringify({ ok: true, factory: config.name, apiUrl: url, tokenFile, users, strictWaves, ...(faultText !== '' ? { faults: faultText } : {}) }) + '\n');
  } else {
    io.stdout(`tuf-rotate: practice factory "${config.name}" serving on ${url} (token file ${tokenFile})\n`);
    for (const u of users.slice(1)) io.stdout(`tuf-rotate: admin ${u.name} (polis-id ${u.polisId}): token file ${u.tokenFile}\n`);
    if (faultText !== '') io.stdout(`tuf-rotate: rehearsing a failure: ${faultText}\n`);
    if (strictWaves) io.stdout('tuf-rotate: strict waves: an active wave blocks targets-key rotations and deletions\n');
  }
  const stop = (): void => {
    void app.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return -1;
}
