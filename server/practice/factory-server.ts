/**
 * The practice factory: our loopback implementation of the Foundries TUF API (foundries-api.md §2),
 * as strict as the real server where its rules are known, with its state in a folder (state.ts).
 *
 * `buildPracticeFactory` never listens; the caller listens on 127.0.0.1.
 *
 * Endpoints (F = factory name; every request needs the token, as `OSF-TOKEN: <token>` or
 * `Authorization: Bearer <base64(token)>`):
 *   E1/E2  GET  /ota/repo/F/api/v1/user_repo/root.json[?production=1]
 *   E3     GET  /ota/repo/F/api/v1/user_repo/N.root.json[?production=1]   404 past the end
 *   E7     GET  /ota/factories/F/ci-targets.pub
 *   E8     GET  /ota/factories/F/users/self/
 *   E9     GET  /ota/repo/F/api/v1/user_repo/root/updates
 *   E10    POST /ota/repo/F/api/v1/user_repo/root/updates                  init
 *   E11    PUT  /ota/repo/F/api/v1/user_repo/root/updates                  stage signed roots
 *   E12    POST /ota/repo/F/api/v1/user_repo/root/updates/apply
 *   E13    POST /ota/repo/F/api/v1/user_repo/root/updates/cancel
 *   E14    POST /ota/repo/F/api/v1/user_repo/root/updates/gen-online-keys
 *   E15    GET  /ota/factories/F/prod-targets/?tag=t1,t2                   404 when none / unknown
 *   E16    GET  /ota/factories/F/wave-targets/?name=w1,w2                  404 when none / unknown
 *   (C)    POST /ota/factories/F/targets/    a CI target upload (stand-in, ci-waves.ts; rule 34)
 *   (C)    POST /ota/factories/F/waves/      a wave creation (stand-in, ci-waves.ts; rule 34)
 * The routes live in routes-read.ts (E1–E3, E7, E8), routes-updates.ts (E9–E14) and
 * routes-targets.ts (E15, E16, the stand-ins); this file builds the instance they share.
 * Errors are `{"message": "...", "errors": ["..."]}`: 400 malformed, 401 no/wrong token, 403 txid
 * (only the initiator may omit it; anyone else must give it exactly), 404 unknown factory or nothing
 * in progress, 409 a transaction is already open (or an active wave blocks E14 or, with
 * `strictWaves`, a targets-key rotation), 422 validation, 423 applying. Every refusal of a
 * foundries-operations.md §6 rule has an `errors` line starting `rule N:` (docs/practice-factory.md).
 *
 * Admins: the owner (OSF-TOKEN) and those of `users/NAME.token` (`addPracticeUsers`), each with its
 * own polis-id; any admin may read, init and cancel.
 *
 * Fault injection (runtime changes through `practiceControl(app).setFaults`, never over HTTP; from the
 * command line `practice-factory DIR --fault apply=503[:once|:always]`, see `parsePracticeFaults`):
 * - `putStatus`: PUT answers this status and stages nothing.
 * - `applyStatus` < 500: apply answers this status and changes nothing (status stays STARTED).
 * - `applyStatus` ≥ 500: a *partial* apply: the status becomes APPLYING and the new CI root is
 *   published, the production root is not; the answer is this status. Re-running apply (once the
 *   fault is cleared) completes it, as the real API asks ("re-run apply after a short pause").
 * - `applyOnce` / `putOnce`: the fault fires once, then clears itself (a transient outage).
 * - `delayMs`: every request waits this long before it is handled (for client timeouts).
 * - `applyDelayMs`: every apply holds the transaction in APPLYING this long before it publishes
 *   (other requests are answered meanwhile); `setFaults` ends every such wait at once.
 */
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import type { PracticeContext } from './api-common.js';
import { ApiFailure, authorized, digest } from './api-common.js';
import type { PracticeFaults } from './faults.js';
import { readRoutes } from './routes-read.js';
import { targetsRoutes } from './routes-targets.js';
import { updatesRoutes } from './routes-updates.js';
import { PracticeState } from './state.js';
import type { PracticeUser } from './state.js';

export interface PracticeFactoryOptions {
  faults?: PracticeFaults;
  /** §6.3 rule 21: a new key's x-key-owners entry must name the uploader (default true). */
  ownerMustBeCaller?: boolean;
  /**
   * §6.5 rule 32: refuse a targets-key rotation or deletion while a wave is active, as fioctl's help
   * says (default false: allowed when the waves are signed with the new key, fioctl ≥ v0.40).
   */
  strictWaves?: boolean;
  /** Clock for expiry checks and timestamps (tests). */
  now?: () => Date;
  /** Fastify logger (off by default). Headers are redacted. */
  logger?: boolean;
}

/** Admin-only handle on a built practice factory (not reachable over HTTP). */
export interface PracticeControl {
  readonly factory: string;
  readonly state: PracticeState;
  faults(): PracticeFaults;
  /** Replaces the faults; an apply waiting out `applyDelayMs` goes on at once. */
  setFaults(f: PracticeFaults): void;
}

const controls = new WeakMap<FastifyInstance, PracticeControl>();

export function practiceControl(app: FastifyInstance): PracticeControl {
  const c = controls.get(app);
  if (c === undefined) throw new AppError('INTERNAL', 'not a practice factory', 'Pass the instance buildPracticeFactory returned.');
  return c;
}

export async function buildPracticeFactory(dir: string, opts: PracticeFactoryOptions = {}): Promise<FastifyInstance> {
  const state = await PracticeState.load(dir);
  const users = (await state.userTokens()).map((u) => ({ user: u.user, digest: digest(u.token) }));
  const userOf = new WeakMap<FastifyRequest, PracticeUser>();
  const caller = (req: FastifyRequest): PracticeUser => {
    const u = userOf.get(req);
    if (u === undefined) throw new ApiFailure(401, 'Authentication credentials were not provided or are invalid');
    return u;
  };
  const now = opts.now ?? (() => new Date());
  let faults: PracticeFaults = { ...opts.faults };
  // Applies waiting out `applyDelayMs` (in APPLYING): setFaults and close end the wait at once.
  const delayed = new Set<() => void>();
  const wakeDelayed = (): void => {
    for (const wake of [...delayed]) wake();
  };
  const applyDelay = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        delayed.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      delayed.add(wake);
    });

  const app = Fastify({
    logger: opts.logger === true ? { redact: ['req.headers.authorization', 'req.headers["osf-token"]'] } : false,
    bodyLimit: 1024 * 1024,
  });
  controls.set(app, {
    factory: state.config.name,
    state,
    faults: () => ({ ...faults }),
    setFaults: (f) => {
      faults = { ...f };
      wakeDelayed();
    },
  });
  app.addHook('onClose', async () => wakeDelayed());

  // One mutation at a time: each reads the state, checks, and persists before the next starts.
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  const fail = (reply: FastifyReply, status: number, message: string, errors: string[] = []): FastifyReply =>
    reply.code(status).type('application/json; charset=utf-8').send(JSON.stringify({ message, errors }));

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof ApiFailure) return fail(reply, err.status, err.message, err.errors);
    const status = (err as { statusCode?: number }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return fail(reply, status, err instanceof Error ? err.message : 'Bad request');
    }
    req.log.error({ err }, 'practice factory failure');
    return fail(reply, 500, 'Internal server error');
  });
  app.setNotFoundHandler((_req, reply) => fail(reply, 404, 'Not found'));

  app.addHook('onRequest', async (req, reply) => {
    const user = authorized(req, users);
    if (user === undefined) return fail(reply, 401, 'Authentication credentials were not provided or are invalid');
    userOf.set(req, user);
    const factory = (req.params as { factory?: unknown } | undefined)?.factory;
    if (typeof factory === 'string' && factory !== state.config.name) return fail(reply, 404, `Factory "${factory}" not found`);
    const delay = faults.delayMs ?? 0;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    return undefined;
  });

  const ctx: PracticeContext = {
    app,
    state,
    opts,
    now,
    get faults() {
      return faults;
    },
    set faults(f) {
      faults = f;
    },
    caller,
    exclusive,
    fail,
    applyDelay,
  };
  readRoutes(ctx);
  updatesRoutes(ctx);
  targetsRoutes(ctx);

  return app;
}
