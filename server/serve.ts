/**
 * Starts the localhost server: loopback only, a fresh 32-byte token per launch. Prints nothing;
 * the caller prints the URL (the token travels in its fragment, which never reaches a server log
 * or a Referer header).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { AppOptions } from './app.js';
import type { Backend } from './backends/backend.js';

export interface ServeOptions {
  /** 0 or undefined: an ephemeral port. */
  port?: number;
  target: Backend | undefined;
  workDir: string;
  /** `serve --offline`: the page preselects the offline target. */
  startKind?: 'offline';
  staticDir?: string;
  token?: string;
  logger?: AppOptions['logger'];
  practiceTarget?: () => Promise<Backend>;
  practiceFactoryTarget?: () => Promise<Backend>;
  env?: NodeJS.ProcessEnv;
  /** Runs when the server closes (the embedded practice factory stops here). */
  onClose?: () => Promise<void>;
  now?: () => Date;
  /** Called at each step boundary of a job (the fault-injection tests kill the server here). */
  onStep?: (step: string) => void;
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
    if (isPackageRoot(dir)) return path.join(dir, 'dist', 'web');
    dir = path.dirname(dir);
  }
  return path.resolve('dist', 'web');
}

/** The folder of tuf-rotate's package.json (dist/server/package.json, the bundle's, has no name). */
function isPackageRoot(dir: string): boolean {
  try {
    return (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name === 'tuf-rotate';
  } catch {
    return false;
  }
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const token = o.token ?? newToken();
  let port = o.port ?? 0;
  const app = await buildApp({
    token,
    port: () => port,
    target: o.target,
    workDir: o.workDir,
    ...(o.startKind ? { startKind: o.startKind } : {}),
    staticDir: o.staticDir ?? defaultStaticDir(),
    ...(o.logger !== undefined ? { logger: o.logger } : {}),
    ...(o.practiceTarget ? { practiceTarget: o.practiceTarget } : {}),
    ...(o.practiceFactoryTarget ? { practiceFactoryTarget: o.practiceFactoryTarget } : {}),
    ...(o.env ? { env: o.env } : {}),
    ...(o.now ? { now: o.now } : {}),
    ...(o.onStep ? { onStep: o.onStep } : {}),
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
export function embeddedPracticeFactory(
  dir: string,
  onCreated?: (archive: string) => void,
  faults?: import('./practice/faults.js').PracticeFaults,
  options: { strictWaves?: boolean } = {},
): { target: () => Promise<Backend>; close: () => Promise<void> } {
  let started: Promise<{ app: FastifyInstance; apiUrl: string; factory: string; token: string }> | undefined;
  const start = async () => {
    const made = await ensureFactoryPractice(dir);
    if (made.created) onCreated?.(made.archive);
    const { buildPracticeFactory, practiceControl } = await import('./practice/factory-server.js');
    const { TOKEN_FILE } = await import('./practice/state.js');
    const app = await buildPracticeFactory(dir, { ...(faults ? { faults } : {}), ...options });
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
