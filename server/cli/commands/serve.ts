/** `tuf-rotate serve`: the localhost server and the page. */
import path from 'node:path';
import type { Backend } from '../../backends/backend.js';
import { LocalRepoBackend } from '../../backends/local-repo.js';
import { AppError } from '../../errors.js';
import { exists } from '../../util/fs-atomic.js';
import { embeddedPracticeFactory, startServer } from '../../serve.js';
import type { RunningServer } from '../../serve.js';
import { intOption, one, parseArgs, usage } from '../args.js';
import type { CliIo } from '../io.js';
import { factoryBackend } from '../targets.js';
import { lockWork } from '../../ceremony/lock.js';
import { resolveWorkDir } from '../../ceremony/workdir.js';

/**
 * Starts the server and prints exactly one line on stdout:
 * `tuf-rotate: serving on http://127.0.0.1:PORT/#token=TOKEN`. Returns -1 (keep running) and stops
 * on SIGINT or SIGTERM. `--open` is accepted and ignored: open the printed URL yourself.
 */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['port', 'repo', 'practice', 'factory', 'api-url', 'token-file', 'work', 'practice-fault'], flags: ['offline', 'open', 'practice-strict-waves'] });
  if (args.positionals.length > 0) throw usage(`Unexpected argument "${args.positionals[0] ?? ''}".`);
  const port = intOption(args, 'port', 0, 65535) ?? 0;
  const repo = one(args, 'repo');
  const practice = one(args, 'practice');
  const factory = one(args, 'factory');
  const offline = args.flags.has('offline');
  if ([repo, practice, factory].filter((x) => x !== undefined).length + (offline ? 1 : 0) > 1) {
    throw usage('Name at most one target: --practice DIR, --repo DIR, --factory NAME or --offline.');
  }
  // The practice folder (default ./practice): its factory lives in DIR/factory, the default target.
  const practiceDir = path.resolve(io.cwd, practice ?? 'practice');
  const factoryDir = path.join(practiceDir, 'factory');
  const { describeFaults, parsePracticeFaults } = await import('../../practice/faults.js');
  const faults = parsePracticeFaults(args.options.get('practice-fault') ?? []);
  if (describeFaults(faults) !== '') io.stderr(`tuf-rotate: the practice factory rehearses a failure: ${describeFaults(faults)}\n`);
  const embedded = embeddedPracticeFactory(
    factoryDir,
    (archive) => io.stderr(`tuf-rotate: practice factory created in ${factoryDir}; upload its key archive ${archive}\n`),
    faults,
    args.flags.has('practice-strict-waves') ? { strictWaves: true } : {},
  );
  const practiceTarget = embedded.target;
  let target: Backend | undefined;
  // The work folder (its ceremonies, new key archives): explicit, never the current folder by default.
  const workDir = await resolveWorkDir({ work: one(args, 'work'), env: io.env, cwd: io.cwd });
  // The server changes the work folder's ceremonies for its whole lifetime: it holds the lock until it closes.
  let releaseLock: () => void;
  try {
    releaseLock = await lockWork(workDir, 'serve', { who: io.env['USER'] ?? 'operator' });
  } catch (e) {
    await embedded.close();
    throw e;
  }
  try {
    if (repo !== undefined) {
      const dir = path.resolve(io.cwd, repo);
      // Refuse a missing or non-repository folder now, not after the page is open.
      if (!(await exists(path.join(dir, 'metadata', 'root.json')))) {
        throw new AppError('REPO_INVALID', `${dir} is not a TUF repository: ${path.join(dir, 'metadata', 'root.json')} is missing.`, 'Point --repo at the folder that holds metadata/root.json.');
      }
      target = new LocalRepoBackend(dir);
    }
    else if (factory !== undefined) target = await factoryBackend(args, io);
    else if (!offline) {
      target = await practiceTarget();
      io.stderr(`tuf-rotate: target is the practice factory in ${factoryDir}; its key archive is ${path.join(factoryDir, 'offline-keys.tgz')}\n`);
    }
  } catch (e) {
    await embedded.close();
    releaseLock();
    throw e;
  }
  let server: RunningServer;
  try {
    server = await startServer({
      port,
      target,
      workDir,
      ...(offline ? { startKind: 'offline' as const } : {}),
      practiceTarget,
      practiceFactoryTarget: practiceTarget,
      env: io.env,
      onClose: async () => {
        releaseLock();
        await embedded.close();
      },
      logger: { level: 'warn', stream: { write: (line: string) => io.stderr(line) } },
      ...(io.now ? { now: io.now } : {}),
      ...(io.onStep ? { onStep: io.onStep } : {}),
    });
  } catch (e) {
    await embedded.close();
    releaseLock();
    if ((e as { code?: unknown }).code === 'EADDRINUSE') {
      throw new AppError('BAD_USAGE', `Port ${port} on 127.0.0.1 is already in use.`, 'Choose another --port, or leave it out for a free one.', { cause: e });
    }
    throw e;
  }
  io.stderr(`tuf-rotate: work folder ${workDir} (ceremonies and new key archives; choose it with --work DIR)\n`);
  io.stdout(`tuf-rotate: serving on ${server.url}\n`);
  const stop = (): void => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    void server.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return -1;
}
