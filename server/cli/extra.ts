/** CLI commands and targets that talk to a FoundriesFactory (real or practice). */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Backend } from '../backends/backend.js';
import { FoundriesBackend } from '../backends/foundries.js';
import { DEFAULT_API_URL, FoundriesClient, loadToken } from '../backends/foundries-client.js';
import type { CliIo } from '../cli.js';
import { AppError } from '../errors.js';
import type { KeyAlgorithm } from '../tuf/model.js';
import { exists } from '../util/fs-atomic.js';
import { intOption, one, parseArgs, required, usage } from './args.js';
import type { ParsedArgs } from './args.js';

export const extraCommands: Record<string, (argv: string[], io: CliIo) => Promise<number>> = {};

/** `tuf-rotate serve`: the localhost server (server/serve.ts); returns -1 and keeps running. */
extraCommands.serve = async (argv, io) => (await import('../serve.js')).serveCommand(argv, io);

/** `tuf-rotate practice-factory DIR [--port N]`: the practice factory's API alone, on loopback. */
extraCommands['practice-factory'] = async (argv, io) => {
  const args = parseArgs(argv, { options: ['port', 'name'], flags: ['json'] });
  if (args.positionals.length !== 1) throw usage('practice-factory takes one folder: tuf-rotate practice-factory DIR.');
  const dir = path.resolve(io.cwd, args.positionals[0] ?? '');
  const port = intOption(args, 'port', 0, 65535) ?? 0;
  const { createPracticeFactory } = await import('../practice/create.js');
  const { buildPracticeFactory } = await import('../practice/factory-server.js');
  const { FACTORY_FILE, TOKEN_FILE } = await import('../practice/state.js');
  if (!(await exists(path.join(dir, FACTORY_FILE)))) {
    const name = one(args, 'name');
    await createPracticeFactory(dir, { ...(name !== undefined ? { name } : {}) });
  }
  const config = JSON.parse(await fs.readFile(path.join(dir, FACTORY_FILE), 'utf8')) as { name: string };
  const app = await buildPracticeFactory(dir);
  await app.listen({ host: '127.0.0.1', port });
  const addr = app.server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  const url = `http://127.0.0.1:${bound}`;
  const tokenFile = path.join(dir, TOKEN_FILE);
  if (args.flags.has('json')) io.stdout(JSON.stringify({ ok: true, factory: config.name, apiUrl: url, tokenFile }) + '\n');
  else io.stdout(`tuf-rotate: practice factory "${config.name}" serving on ${url} (token file ${tokenFile})\n`);
  const stop = (): void => {
    void app.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return -1;
};

/** The Factory named by --factory, with --api-url and the token from --token-file, FIOCTL_TOKEN or fioctl's config. */
export async function factoryBackend(args: ParsedArgs, io: CliIo): Promise<Backend> {
  const factory = required(args, 'factory');
  const apiUrl = one(args, 'api-url') ?? DEFAULT_API_URL;
  const tokenFile = one(args, 'token-file');
  const token = loadToken({
    ...(tokenFile !== undefined ? { tokenFile: path.resolve(io.cwd, tokenFile) } : {}),
    env: io.env,
    ...(io.env['HOME'] !== undefined ? { home: io.env['HOME'] } : {}),
  });
  const client = new FoundriesClient({ apiUrl, factory, token });
  const loopback = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/.test(apiUrl);
  return new FoundriesBackend(client, { practice: loopback, firstTime: args.flags.has('first-time') });
}

/** `tuf-rotate practice DIR --dialect foundries`: a practice factory's folder and the owner's key archive. */
export async function practiceFactory(args: ParsedArgs, io: CliIo, dir: string, keyType: KeyAlgorithm): Promise<number> {
  if (keyType === 'ecdsa') {
    throw new AppError('KEY_TYPE_UNSUPPORTED', 'A FoundriesFactory root key is RSA or Ed25519, not ECDSA.', 'Use --key-type rsa or --key-type ed25519.');
  }
  const { createPracticeFactory } = await import('../practice/create.js');
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
