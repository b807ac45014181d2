/** The target a command names: --repo DIR, --root ROOT.json with --out-root NEW.json, or --factory NAME. */
import path from 'node:path';
import type { Backend } from '../backends/backend.js';
import { LocalRepoBackend } from '../backends/local-repo.js';
import { OfflineBackend } from '../backends/offline.js';
import { one, required, usage } from './args.js';
import type { ParsedArgs } from './args.js';
import type { CliIo } from './io.js';
import { resolvePath } from './io.js';

export async function backendFor(args: ParsedArgs, io: CliIo, command: string): Promise<Backend> {
  const repo = one(args, 'repo');
  const root = one(args, 'root');
  const factory = one(args, 'factory');
  const chosen = [repo, command === 'rotate' || command === 'change' ? root : undefined, factory].filter((x) => x !== undefined);
  if (chosen.length !== 1) throw usage('Name exactly one target: --repo DIR, --root ROOT.json with --out-root NEW.json, or --factory NAME.');
  if (repo !== undefined) return new LocalRepoBackend(resolvePath(io, repo));
  if (factory !== undefined) return factoryBackend(args, io);
  const outRoot = required(args, 'out-root');
  return new OfflineBackend({ file: resolvePath(io, root ?? '') }, resolvePath(io, outRoot));
}

/** The Factory named by --factory, with --api-url and the token from --token-file, FIOCTL_TOKEN or fioctl's config. */
export async function factoryBackend(args: ParsedArgs, io: CliIo): Promise<Backend> {
  const { FoundriesBackend } = await import('../backends/foundries.js');
  const [{ DEFAULT_API_URL, FoundriesClient }, { loadToken }] = await Promise.all([import('../backends/foundries-client.js'), import('../backends/foundries-token.js')]);
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
  return new FoundriesBackend(client, { practice: loopback, firstTime: args.flags.has('first-time'), ...(io.onStep ? { onStep: io.onStep } : {}) });
}
