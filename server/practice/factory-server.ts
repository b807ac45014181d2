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
 * Errors are `{"message": "...", "errors": ["..."]}`: 400 malformed, 401 no/wrong token, 404 unknown
 * factory or nothing in progress, 409 a transaction is already open, 422 validation, 423 applying.
 *
 * Fault injection (tests; runtime changes through `practiceControl(app).setFaults`, never over HTTP):
 * - `putStatus`: PUT answers this status and stages nothing.
 * - `applyStatus` < 500: apply answers this status and changes nothing (status stays STARTED).
 * - `applyStatus` ≥ 500: a *partial* apply: the status becomes APPLYING and the new CI root is
 *   published, the production root is not; the answer is this status. Re-running apply (once the
 *   fault is cleared) completes it, as the real API asks ("re-run apply after a short pause").
 * - `delayMs`: every request waits this long before it is handled (for client timeouts).
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import { isPrintableAscii } from '../tuf/canonical-json.js';
import { cloneJson, isJsonObject } from '../tuf/json.js';
import type { JsonObject } from '../tuf/json.js';
import { parseRoot } from '../tuf/metadata.js';
import type { Root, RootDocument } from '../tuf/model.js';
import { PracticeState, readPracticeToken } from './state.js';
import type { Transaction } from './state.js';
import { checkProdMatchesCi, checkStagedRoot } from './validate.js';

export interface PracticeFaults {
  applyStatus?: number;
  putStatus?: number;
  delayMs?: number;
}

export interface PracticeFactoryOptions {
  faults?: PracticeFaults;
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
  setFaults(f: PracticeFaults): void;
}

const controls = new WeakMap<FastifyInstance, PracticeControl>();

export function practiceControl(app: FastifyInstance): PracticeControl {
  const c = controls.get(app);
  if (c === undefined) throw new AppError('INTERNAL', 'not a practice factory', 'Pass the instance buildPracticeFactory returned.');
  return c;
}

/** Thrown inside handlers; becomes a Foundries-shaped error reply. */
class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: string[] = [],
  ) {
    super(message);
  }
}

const ONLY_ONE = 'Only one TUF root updates transaction can be active at a time';
const NONE_IN_PROGRESS = 'There are no TUF root updates in progress';
const APPLYING = 'No modifications to TUF root updates allowed while they are being applied';
const MAX_MESSAGE = 1024;

function digest(s: string | Buffer): Buffer {
  return createHash('sha256').update(s).digest();
}

function newTxid(): string {
  let s = '';
  for (let i = 0; i < 8; i++) s += String.fromCharCode(65 + randomInt(26));
  return s;
}

/** RFC 3339 UTC with whole seconds, as Foundries writes `created-at`. */
function stamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function onlyFields(body: JsonObject, allowed: readonly string[]): void {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new ApiFailure(400, 'Invalid request body', unknown.map((k) => `unknown field "${k}"`));
}

function bodyObject(req: FastifyRequest, required: boolean): JsonObject {
  const b = req.body;
  if (b === undefined || b === null) {
    if (required) throw new ApiFailure(400, 'Invalid request body', ['a JSON object is required']);
    return {};
  }
  if (!isJsonObject(b)) throw new ApiFailure(400, 'Invalid request body', ['a JSON object is required']);
  return b;
}

function txidOf(body: JsonObject): string {
  const t = body['txid'] ?? '';
  if (typeof t !== 'string') throw new ApiFailure(400, 'Invalid request body', ['"txid" must be a string']);
  return t;
}

export async function buildPracticeFactory(dir: string, opts: PracticeFactoryOptions = {}): Promise<FastifyInstance> {
  const state = await PracticeState.load(dir);
  const tokenDigest = digest(await readPracticeToken(dir));
  const now = opts.now ?? (() => new Date());
  let faults: PracticeFaults = { ...opts.faults };

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
    },
  });

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
    if (!authorized(req, tokenDigest)) return fail(reply, 401, 'Authentication credentials were not provided or are invalid');
    const factory = (req.params as { factory?: unknown } | undefined)?.factory;
    if (typeof factory === 'string' && factory !== state.config.name) return fail(reply, 404, `Factory "${factory}" not found`);
    const delay = faults.delayMs ?? 0;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    return undefined;
  });

  const repo = '/ota/repo/:factory/api/v1/user_repo';
  const fac = '/ota/factories/:factory';

  // E1, E2, E3
  app.get(`${repo}/:file`, async (req, reply) => {
    const { file } = req.params as { file: string };
    const m = /^(?:([1-9][0-9]{0,8})\.)?root\.json$/.exec(file);
    if (m === null) return fail(reply, 404, 'Not found');
    const q = req.query as { production?: string };
    const kind = q.production === '1' || q.production === 'true' ? 'prod' : 'ci';
    const text = state.rootText(kind, m[1] === undefined ? undefined : Number(m[1]));
    if (text === undefined) return fail(reply, 404, `Root version ${m[1] ?? ''} not found`);
    return reply.type('application/json; charset=utf-8').send(text);
  });

  // E7
  app.get(`${fac}/ci-targets.pub`, async (_req, reply) => {
    const pub = await state.serverKey('targets-online.pub');
    if (pub === undefined) return fail(reply, 404, 'Not found');
    return reply.type('application/json; charset=utf-8').send(Buffer.from(pub));
  });

  // E8 (fioctl before v0.40 called it without the trailing slash)
  const self = async (): Promise<JsonObject> => ({
    'polis-id': state.config.polisId,
    name: state.config.userName,
    role: state.config.role,
    'teams-ext': [],
    'effective-scopes': ['targets:read-update', 'devices:read'],
  });
  app.get(`${fac}/users/self/`, self);
  app.get(`${fac}/users/self`, self);

  // E9
  app.get(`${repo}/root/updates`, async () => updatesJson(state, now()));

  // E10 init
  app.post(`${repo}/root/updates`, async (req, reply) =>
    exclusive(async () => {
      const body = bodyObject(req, true);
      onlyFields(body, ['message', 'first-time', 'shortcut']);
      const message = body['message'] ?? '';
      const firstTime = body['first-time'] ?? false;
      const shortcut = body['shortcut'] ?? false;
      const errors: string[] = [];
      if (typeof message !== 'string') errors.push('"message" must be a string');
      else if (message.length > MAX_MESSAGE || !isPrintableAscii(message)) {
        errors.push(`"message" must be printable ASCII, at most ${MAX_MESSAGE} characters (it is signed into x-changelog)`);
      }
      if (typeof firstTime !== 'boolean') errors.push('"first-time" must be a boolean');
      if (typeof shortcut !== 'boolean') errors.push('"shortcut" must be a boolean');
      if (errors.length > 0 || typeof message !== 'string' || typeof firstTime !== 'boolean' || typeof shortcut !== 'boolean') {
        throw new ApiFailure(400, 'Invalid request body', errors);
      }
      if (state.transaction !== undefined) throw new ApiFailure(409, ONLY_ONE);

      let firstRoot: { sec: string; pub: string } | undefined;
      if (firstTime) {
        const sec = await state.serverKey('first-root.sec');
        const pub = await state.serverKey('first-root.pub');
        if (!state.config.firstTimePending || sec === undefined || pub === undefined) {
          throw new ApiFailure(400, 'First-time TUF root updates are not possible for this Factory', [
            'the offline root key was already handed to the Factory owner',
          ]);
        }
        firstRoot = { sec: Buffer.from(sec).toString('utf8'), pub: Buffer.from(pub).toString('utf8') };
      }

      const at = now();
      const ci = state.rootDocument('ci');
      const prod = state.rootDocument('prod');
      const changelog: JsonObject = { 'polis-id': state.config.polisId, message, timestamp: at.toISOString() };
      const ciSigned = stagedSigned(ci.signed, changelog);
      const tx: Transaction = {
        txid: newTxid(),
        status: 'STARTED',
        firstTime,
        shortcut,
        message,
        createdBy: state.config.polisId,
        createdAt: stamp(at),
        updatedBy: state.config.polisId,
        updatedAt: stamp(at),
        baseVersion: state.version('ci'),
        ciRoot: { signatures: [], signed: ciSigned },
        // The staged prod root is the staged CI root with the production targets threshold.
        prodRoot: { signatures: [], signed: stagedProd(ciSigned, prod.signed) },
        signed: false,
      };
      await state.saveTransaction(tx);
      if (firstRoot === undefined) return { txid: tx.txid };
      await state.saveConfig({ ...state.config, firstTimePending: false });
      // The key objects go out byte for byte as stored (fioctl saves them verbatim).
      return reply
        .type('application/json; charset=utf-8')
        .send(`{"txid":${JSON.stringify(tx.txid)},"first_root.sec":${firstRoot.sec},"first_root.pub":${firstRoot.pub}}`);
    }),
  );

  // E11 stage signed roots
  app.put(`${repo}/root/updates`, async (req, reply) =>
    exclusive(async () => {
      if (faults.putStatus !== undefined) return fail(reply, faults.putStatus, 'Injected fault: PUT refused');
      const body = bodyObject(req, true);
      onlyFields(body, ['txid', 'ci-root', 'prod-root', 'targets-signatures', 'waves-signatures']);
      const tx = openTransaction(state, txidOf(body));
      if (tx.status !== 'STARTED') throw new ApiFailure(423, APPLYING);
      for (const f of ['ci-root', 'prod-root']) {
        if (body[f] === undefined) throw new ApiFailure(400, 'Invalid request body', [`"${f}" is required`]);
      }
      const errors: string[] = [];
      for (const f of ['targets-signatures', 'waves-signatures']) {
        const v = body[f];
        if (v === undefined || v === null) continue;
        if (!isJsonObject(v)) throw new ApiFailure(400, 'Invalid request body', [`"${f}" must be an object`]);
        // A practice factory has no production targets or waves to re-sign.
        for (const name of Object.keys(v)) errors.push(`${f}: there is no ${f === 'targets-signatures' ? 'production tag' : 'wave'} "${name}"`);
      }
      const at = now();
      const ci = checkStagedRoot(currentRoot(state, 'ci'), body['ci-root'], 'ci-root', at);
      const prod = checkStagedRoot(currentRoot(state, 'prod'), body['prod-root'], 'prod-root', at);
      errors.push(...ci.errors, ...prod.errors);
      if (ci.root !== undefined && prod.root !== undefined) errors.push(...checkProdMatchesCi(ci.root, prod.root));
      if (ci.malformed || prod.malformed) throw new ApiFailure(400, 'Invalid TUF root', errors);
      if (errors.length > 0) throw new ApiFailure(422, 'The staged TUF roots were refused', errors);
      await state.saveTransaction({
        ...tx,
        ciRoot: cloneJson(body['ci-root'] ?? null) as RootDocument,
        prodRoot: cloneJson(body['prod-root'] ?? null) as RootDocument,
        signed: true,
        updatedBy: state.config.polisId,
        updatedAt: stamp(at),
      });
      return {};
    }),
  );

  // E12 apply
  app.post(`${repo}/root/updates/apply`, async (req, reply) =>
    exclusive(async () => {
      const body = bodyObject(req, false);
      onlyFields(body, ['txid']);
      const tx = openTransaction(state, txidOf(body));
      const injected = faults.applyStatus;
      if (injected !== undefined && injected < 500) return fail(reply, injected, 'Injected fault: apply refused');
      if (!tx.signed) {
        throw new ApiFailure(422, 'The staged TUF root updates are not signed', [
          'PUT signed ci-root and prod-root before applying',
        ]);
      }
      if (tx.status === 'STARTED') {
        // Time may have passed since the PUT: the staged roots must still be acceptable.
        const at = now();
        const errors = [
          ...checkStagedRoot(currentRoot(state, 'ci'), tx.ciRoot, 'ci-root', at).errors,
          ...checkStagedRoot(currentRoot(state, 'prod'), tx.prodRoot, 'prod-root', at).errors,
        ];
        if (errors.length > 0) throw new ApiFailure(422, 'The staged TUF roots can no longer be applied', errors);
      }
      const applying: Transaction = { ...tx, status: 'APPLYING', updatedAt: stamp(now()) };
      await state.saveTransaction(applying);
      if (state.version('ci') < tx.baseVersion + 1) await state.appendRoot('ci', tx.ciRoot);
      if (injected !== undefined) return fail(reply, injected, 'Injected fault: apply interrupted after the CI root was published');
      if (state.version('prod') < tx.baseVersion + 1) await state.appendRoot('prod', tx.prodRoot);
      if (tx.firstTime) {
        // The owner's key has replaced it: the server no longer keeps the first root key.
        await state.removeServerKey('first-root.sec');
        await state.removeServerKey('first-root.pub');
      }
      await state.clearTransaction();
      return {};
    }),
  );

  // E13 cancel (no body)
  app.post(`${repo}/root/updates/cancel`, async () =>
    exclusive(async () => {
      const tx = state.transaction;
      if (tx === undefined) throw new ApiFailure(404, NONE_IN_PROGRESS);
      if (tx.status === 'APPLYING') throw new ApiFailure(423, 'TUF root updates cannot be canceled while they are being applied');
      await state.clearTransaction();
      return {};
    }),
  );

  return app;
}

function authorized(req: FastifyRequest, tokenDigest: Buffer): boolean {
  const header = req.headers['osf-token'];
  if (typeof header === 'string' && timingSafeEqual(digest(header), tokenDigest)) return true;
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer ([A-Za-z0-9+/=_-]+)$/.exec(auth);
    if (m?.[1] !== undefined && timingSafeEqual(digest(Buffer.from(m[1], 'base64')), tokenDigest)) return true;
  }
  return false;
}

function openTransaction(state: PracticeState, txid: string): Transaction {
  const tx = state.transaction;
  if (tx === undefined) throw new ApiFailure(404, NONE_IN_PROGRESS);
  if (txid !== '' && txid !== tx.txid) throw new ApiFailure(400, `Transaction ${txid} is not the active one`);
  return tx;
}

function currentRoot(state: PracticeState, kind: 'ci' | 'prod'): Root {
  return parseRoot(state.rootDocument(kind), `${kind} root`);
}

/** The server's part of a new version: version + 1 and the changelog of the init request. */
function stagedSigned(current: JsonObject, changelog: JsonObject): JsonObject {
  const signed = cloneJson(current);
  const v = signed['version'];
  signed['version'] = typeof v === 'number' ? v + 1 : 1;
  signed['x-changelog'] = changelog;
  return signed;
}

/** The staged CI root with the production targets threshold (at least 2, kept if already higher). */
function stagedProd(ciSigned: JsonObject, currentProd: JsonObject): JsonObject {
  const signed = cloneJson(ciSigned);
  const roles = signed['roles'];
  const prodRoles = currentProd['roles'];
  const prodTargets = isJsonObject(prodRoles) ? prodRoles['targets'] : undefined;
  const current = isJsonObject(prodTargets) && typeof prodTargets['threshold'] === 'number' ? prodTargets['threshold'] : 1;
  const targets = isJsonObject(roles) ? roles['targets'] : undefined;
  if (isJsonObject(targets)) {
    const keys = Array.isArray(targets['keyids']) ? targets['keyids'].length : 2;
    targets['threshold'] = Math.min(Math.max(2, current), Math.max(keys, 2));
  }
  return signed;
}

function updatesJson(state: PracticeState, now: Date): JsonObject {
  const tx = state.transaction;
  const online: JsonObject = { ...state.config.onlineKeys };
  const compact = (doc: RootDocument | undefined): string => (doc === undefined ? '' : JSON.stringify(doc));
  const warnings: JsonObject[] = [];
  const ci = state.rootDocument('ci');
  const expires = typeof ci.signed['expires'] === 'string' ? Date.parse(ci.signed['expires']) : NaN;
  if (Number.isFinite(expires) && expires - now.getTime() < 30 * 24 * 3600 * 1000) {
    warnings.push({
      kind: 'root-expiring',
      message: expires <= now.getTime() ? 'The TUF root has expired' : 'The TUF root expires within 30 days',
      args: { expires: String(ci.signed['expires']) },
    });
  }
  const errors: JsonObject[] = [];
  if (tx !== undefined && !tx.signed) {
    errors.push({ kind: 'not-signed', message: 'The updated TUF roots are not signed by enough root keys', args: {} });
  }
  const out: JsonObject = {
    status: state.status,
    'first-time': tx?.firstTime ?? false,
    current: { 'ci-root': compact(ci), 'prod-root': compact(state.rootDocument('prod')), 'online-keys': online },
    amendments: [],
    issues: { errors, warnings },
  };
  if (tx !== undefined) {
    out['updated'] = { 'ci-root': compact(tx.ciRoot), 'prod-root': compact(tx.prodRoot), 'online-keys': online };
    out['change-meta'] = {
      'created-by': tx.createdBy,
      'created-at': tx.createdAt,
      'updated-by': tx.updatedBy,
      'updated-at': tx.updatedAt,
    };
  }
  return out;
}
