/**
 * The localhost server as a Fastify instance: security hook, error handler, JSON API and the
 * built web UI. Never listens (serve.ts does), so tests drive it through `app.inject`.
 *
 * `beforeRoutes` runs before any route is registered: a test adds its `onRoute` hook there to
 * list every route (plugins load as soon as buildApp awaits, so a hook added later misses them).
 */
import { promises as fs } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Backend } from './backends/backend.js';
import { AppError, installErrorHandler, toApiError } from './errors.js';
import { Jobs } from './jobs.js';
import { archiveRoutes } from './routes/archive.js';
import { lazySchemaController } from './lazy-schemas.js';
import { changesRoutes } from './routes/changes.js';
import { tokenKeyRoutes } from './routes/token-key.js';
import { pemKeyRoutes } from './routes/pem-key.js';
import { JSON_BODY_LIMIT, type RouteContext } from './routes/context.js';
import { expiryRoutes } from './routes/expiry.js';
import { healthRoutes } from './routes/health.js';
import { jobRoutes } from './routes/jobs.js';
import { recordRoutes } from './routes/record.js';
import { requestRoutes } from './routes/requests.js';
import { rootRoutes } from './routes/root.js';
import { rotationRoutes } from './routes/rotation.js';
import { ceremonyRoutes } from './routes/ceremony.js';
import { sessionRoutes } from './routes/session.js';
import { targetRoutes } from './routes/target.js';
import { installSecurity, isApiRequest } from './security.js';
import { Session } from './session.js';

export const VERSION = '0.1.0';

export interface AppOptions {
  /** The per-launch secret every /api request must present as `Authorization: Bearer <token>`. */
  token: string;
  /** The port the Host header must name: a number (0: the port actually bound), or a getter. */
  port: number | (() => number);
  /** The initial target, if the command line named one. */
  target: Backend | undefined;
  /** Where new archives (and an offline target's new root) are saved by default. */
  workDir: string;
  /** `serve --offline`: the page preselects the offline target (upload a root.json). */
  startKind?: 'offline';
  /** The built web UI (dist/web); served at / when the folder exists. */
  staticDir?: string;
  logger?: boolean | object;
  now?: () => Date;
  /** The practice target, for `POST /api/target {kind: "practice"}` (another backend plugs in here). */
  practiceTarget?: () => Promise<Backend>;
  /** The embedded practice factory, for `POST /api/target {kind: "practice-factory"}`. */
  practiceFactoryTarget?: () => Promise<Backend>;
  /** Environment a factory target's token may come from (FIOCTL_TOKEN, FIOCTL_CONFIG, HOME). */
  env?: NodeJS.ProcessEnv;
  /** Called at each step boundary of a job (the fault-injection tests kill the server here). */
  onStep?: (step: string) => void;
  /** Called with the instance before any route exists (tests: `app.addHook('onRoute', …)`). */
  beforeRoutes?: (app: FastifyInstance) => void;
}

/** Secrets that must never reach a log line. */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["osf-token"]',
  // A factory target's API token travels in the POST /api/target body; bodies are not logged, but be sure.
  'req.body.token',
  'body.token',
  'token',
  // A hardware token's PIN travels in the POST /api/keys/token body.
  'req.body.pin',
  'req.body.pem', // POST /api/keys/pem: a private key
  'body.pin',
  'pin',
  'body.pem',
  'pem',
];

function loggerOptions(l: AppOptions['logger']): FastifyServerOptions['logger'] {
  if (l === undefined || l === false) return false;
  const base = (l === true ? {} : l) as { redact?: string[] | { paths: string[] } };
  const extra = Array.isArray(base.redact) ? base.redact : (base.redact?.paths ?? []);
  return { ...base, redact: { paths: [...REDACT, ...extra], censor: '[redacted]' } } as FastifyServerOptions['logger'];
}

async function isDirectory(dir: string | undefined): Promise<boolean> {
  if (dir === undefined) return false;
  try {
    return (await fs.stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

export async function buildApp(o: AppOptions): Promise<FastifyInstance> {
  if (o.token.length < 16) {
    throw new AppError('BAD_USAGE', 'The server token is too short.', 'Use 32 random bytes (serve.ts makes one per launch).');
  }
  const hasStatic = await isDirectory(o.staticDir);
  const app = Fastify({
    logger: loggerOptions(o.logger),
    bodyLimit: JSON_BODY_LIMIT,
    trustProxy: false,
    // Strict bodies: unknown fields and wrong types are refused, never removed or coerced.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true, useDefaults: false } },
    // Each route's validator and serializer is compiled on its first use, not at start.
    schemaController: lazySchemaController(),
  });
  // Only JSON and the archive's gzip are bodies here; text/plain is what a foreign form can post.
  app.removeContentTypeParser('text/plain');

  installErrorHandler(app);
  o.beforeRoutes?.(app);
  const port =
    typeof o.port === 'function'
      ? o.port
      : o.port === 0
        ? () => (app.server.address() as AddressInfo | null)?.port ?? -1
        : () => o.port as number;
  installSecurity(app, { token: o.token, port });

  const now = o.now ?? (() => new Date());
  const jobs = new Jobs(now, (err, jobId) => app.log.error({ err, jobId }, 'job failed'));
  const session = new Session(
    {
      workDir: path.resolve(o.workDir),
      now,
      ...(o.practiceTarget ? { practiceTarget: o.practiceTarget } : {}),
      ...(o.practiceFactoryTarget ? { practiceFactoryTarget: o.practiceFactoryTarget } : {}),
      ...(o.env ? { env: o.env } : {}),
      ...(o.onStep ? { onStep: o.onStep } : {}),
    },
    jobs,
    o.target,
  );
  await session.open().catch((err: unknown) => app.log.warn({ err }, 'the work folder\'s ceremony could not be opened'));
  const ctx: RouteContext = { session, jobs, version: VERSION, ...(o.startKind ? { startKind: o.startKind } : {}) };

  void app.register(async (api) => {
    healthRoutes(api, ctx);
    sessionRoutes(api, ctx);
    targetRoutes(api, ctx);
    rootRoutes(api, ctx);
    changesRoutes(api, ctx);
    expiryRoutes(api, ctx);
    archiveRoutes(api, ctx);
    tokenKeyRoutes(api, ctx);
    pemKeyRoutes(api, ctx);
    rotationRoutes(api, ctx);
    ceremonyRoutes(api, ctx);
    jobRoutes(api, ctx);
    recordRoutes(api, ctx);
    requestRoutes(api, now);
  });

  if (hasStatic && o.staticDir !== undefined) {
    void app.register(fastifyStatic, { root: path.resolve(o.staticDir), prefix: '/', index: ['index.html'], serveDotFiles: false });
  }

  app.setNotFoundHandler(async (req, reply) => {
    if (!isApiRequest(req) && hasStatic && (req.method === 'GET' || req.method === 'HEAD')) {
      // The single-page app handles its own paths.
      return reply.type('text/html; charset=utf-8').sendFile('index.html');
    }
    const out = toApiError(new AppError('NOT_FOUND', `There is no ${req.method} ${isApiRequest(req) ? 'API route' : 'page'} here.`, 'See docs/api.md for the routes.'));
    return reply.code(out.status).send(out.body);
  });

  return app;
}
