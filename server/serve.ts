/**
 * Starts the localhost server: loopback only, a fresh 32-byte token per launch. Prints nothing;
 * the caller prints the URL (the token travels in its fragment, which never reaches a server log
 * or a Referer header).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { AppOptions } from './app.js';
import type { Backend } from './backends/backend.js';
import { LocalRepoBackend } from './backends/local-repo.js';
import type { CliIo } from './cli.js';
import { intOption, one, parseArgs, usage } from './cli/args.js';
import { AppError } from './errors.js';

export interface ServeOptions {
  /** 0 or undefined: an ephemeral port. */
  port?: number;
  target: Backend | undefined;
  workDir: string;
  staticDir?: string;
  token?: string;
  logger?: AppOptions['logger'];
  practiceTarget?: () => Promise<Backend>;
  practiceFactoryTarget?: () => Promise<Backend>;
  env?: NodeJS.ProcessEnv;
  /** Runs when the server closes (the embedded practice factory stops here). */
  onClose?: () => Promise<void>;
  now?: () => Date;
}

export interface RunningServer {
  /** `http://127.0.0.1:PORT/#token=TOKEN`: what the user opens. */
  url: string;
  /** `http://127.0.0.1:PORT`. */
  origin: string;
  port: number;
  token: string;
  app: FastifyInstance;
  close: () => Promise<void>;
}

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** dist/web of this package, found from this module's place (dist/server/ when built, server/ under tsx). */
export function defaultStaticDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'dist', 'web');
    dir = path.dirname(dir);
  }
  return path.resolve('dist', 'web');
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const token = o.token ?? newToken();
  let port = o.port ?? 0;
  const app = await buildApp({
    token,
    port: () => port,
    target: o.target,
    workDir: o.workDir,
    staticDir: o.staticDir ?? defaultStaticDir(),
    ...(o.logger !== undefined ? { logger: o.logger } : {}),
    ...(o.practiceTarget ? { practiceTarget: o.practiceTarget } : {}),
    ...(o.practiceFactoryTarget ? { practiceFactoryTarget: o.practiceFactoryTarget } : {}),
    ...(o.env ? { env: o.env } : {}),
    ...(o.now ? { now: o.now } : {}),
  });
  const onClose = o.onClose;
  if (onClose) app.addHook('onClose', async () => onClose());
  // Loopback only (invariant 5): never 0.0.0.0, never ::.
  await app.listen({ host: '127.0.0.1', port });
  port = (app.server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  return { url: `${origin}/#token=${token}`, origin, port, token, app, close: () => app.close() };
}

// ---------------------------------------------------------------------------------------------
// `tuf-rotate serve [--port N] [--practice DIR | --repo DIR | --factory NAME | --offline] [--open]`

/** Creates the practice standard repository in `dir` unless it is there already. */
export async function ensureSpecPractice(dir: string): Promise<{ repo: string; created: boolean; archive: string }> {
  const repo = path.join(dir, 'repo');
  const archive = path.join(dir, 'offline-keys.tgz');
  if (existsSync(path.join(repo, 'metadata', 'root.json'))) return { repo, created: false, archive };
  const { createSpecPractice } = await import('./practice/spec-repo.js');
  const made = await createSpecPractice(dir);
  return { repo: made.repo, created: true, archive: made.archive };
}

/** Creates the practice factory in `dir` (Ed25519 root key) unless it is there already. */
export async function ensureFactoryPractice(dir: string): Promise<{ dir: string; created: boolean; archive: string }> {
  const { FACTORY_FILE } = await import('./practice/state.js');
  const archive = path.join(dir, 'offline-keys.tgz');
  if (existsSync(path.join(dir, FACTORY_FILE))) return { dir, created: false, archive };
  const { createPracticeFactory } = await import('./practice/create.js');
  const made = await createPracticeFactory(dir, { rootKeyType: 'ed25519' });
  return { dir: made.dir, created: true, archive: made.archivePath ?? archive };
}

/**
 * The practice factory of `dir` served on 127.0.0.1 (an ephemeral port) inside this process,
 * started on first use. `target()` gives a fresh FoundriesBackend over it; `close()` stops it.
 */
export function embeddedPracticeFactory(dir: string, onCreated?: (archive: string) => void): { target: () => Promise<Backend>; close: () => Promise<void> } {
  let started: Promise<{ app: FastifyInstance; apiUrl: string; factory: string; token: string }> | undefined;
  const start = async () => {
    const made = await ensureFactoryPractice(dir);
    if (made.created) onCreated?.(made.archive);
    const { buildPracticeFactory, practiceControl } = await import('./practice/factory-server.js');
    const { TOKEN_FILE } = await import('./practice/state.js');
    const app = await buildPracticeFactory(dir);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const apiUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const token = (await readFile(path.join(dir, TOKEN_FILE), 'utf8')).trim();
    return { app, apiUrl, factory: practiceControl(app).factory, token };
  };
  return {
    target: async () => {
      started ??= start();
      let s;
      try {
        s = await started;
      } catch (e) {
        started = undefined;
        throw e;
      }
      const { FoundriesBackend } = await import('./backends/foundries.js');
      const { FoundriesClient } = await import('./backends/foundries-client.js');
      return new FoundriesBackend(new FoundriesClient({ apiUrl: s.apiUrl, factory: s.factory, token: s.token }), { practice: true });
    },
    close: async () => {
      const s = started;
      started = undefined;
      if (s) await (await s.catch(() => undefined))?.app.close();
    },
  };
}

/**
 * Starts the server and prints exactly one line on stdout:
 * `tuf-rotate: serving on http://127.0.0.1:PORT/#token=TOKEN`. Returns -1 (keep running) and stops
 * on SIGINT or SIGTERM. `--open` is accepted and ignored: open the printed URL yourself.
 */
export async function serveCommand(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['port', 'repo', 'practice', 'factory', 'api-url', 'token-file'], flags: ['offline', 'open'] });
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
  const embedded = embeddedPracticeFactory(factoryDir, (archive) =>
    io.stderr(`tuf-rotate: practice factory created in ${factoryDir}; upload its key archive ${archive}\n`),
  );
  const practiceTarget = embedded.target;
  let target: Backend | undefined;
  let workDir = io.cwd;
  try {
    if (repo !== undefined) target = new LocalRepoBackend(path.resolve(io.cwd, repo));
    else if (factory !== undefined) target = await (await import('./cli/extra.js')).factoryBackend(args, io);
    else if (!offline) {
      target = await practiceTarget();
      workDir = practiceDir;
      io.stderr(`tuf-rotate: target is the practice factory in ${factoryDir}; its key archive is ${path.join(factoryDir, 'offline-keys.tgz')}\n`);
    }
  } catch (e) {
    await embedded.close();
    throw e;
  }
  let server: RunningServer;
  try {
    server = await startServer({
      port,
      target,
      workDir,
      practiceTarget,
      practiceFactoryTarget: practiceTarget,
      env: io.env,
      onClose: embedded.close,
      logger: { level: 'warn', stream: { write: (line: string) => io.stderr(line) } },
      ...(io.now ? { now: io.now } : {}),
    });
  } catch (e) {
    await embedded.close();
    if ((e as { code?: unknown }).code === 'EADDRINUSE') {
      throw new AppError('BAD_USAGE', `Port ${port} on 127.0.0.1 is already in use.`, 'Choose another --port, or leave it out for a free one.', { cause: e });
    }
    throw e;
  }
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
