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
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { keyIdFoundries, newRootKeyJson } from '../tuf/public-key.js';
import { archivePairFiles, parseArchiveSecret } from '../tuf/archive-keys.js';
import { generateKey } from '../tuf/private-key.js';
import type { PrivateKey } from '../tuf/private-key.js';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import { isPrintableAscii } from '../tuf/canonical-json.js';
import { cloneJson, isJsonObject } from '../tuf/json.js';
import type { JsonObject } from '../tuf/json.js';
import { parseRoot } from '../tuf/metadata.js';
import type { Root, RootDocument } from '../tuf/model.js';
import { LocalSigner, signRoot } from '../tuf/sign.js';
import { checkCiTargetsUpload, checkWaveCreate, ciUploadBlocked, waveCreationBlocked } from './ci-waves.js';
import { checkStagingRules } from './rules.js';
import { PracticeState } from './state.js';
import type { OnlineKeyIds, PracticeUser, Transaction } from './state.js';
import { checkStagedTargetsSignatures, validTargetsSigners } from './targets.js';
import { checkProdMatchesCi, checkStagedRoot } from './validate.js';
import { practiceUsersList } from './users.js';

export interface PracticeFaults {
  applyStatus?: number;
  putStatus?: number;
  /** The apply / PUT fault fires once, then clears (default: every time). */
  applyOnce?: boolean;
  putOnce?: boolean;
  delayMs?: number;
  /** Every apply waits this long in APPLYING before it publishes (`--fault apply=delay:MS`: a slow apply, e.g. to reload the page meanwhile). */
  applyDelayMs?: number;
}

/** What `--fault` accepts: `apply=STATUS[:once|:always]`, `put=STATUS[:once|:always]` (default once). */
export const FAULT_SYNTAX = 'apply=STATUS[:once|:always], put=STATUS[:once|:always] (default :once) or apply=delay:MS';

/**
 * `--fault` values to faults: `apply=503` makes the next apply publish the CI root only and answer
 * 503 (a partial apply); `apply=422` refuses apply; `put=500:always` refuses every upload.
 */
export function parsePracticeFaults(specs: readonly string[]): PracticeFaults {
  const out: PracticeFaults = {};
  for (const spec of specs) {
    const d = /^apply=delay:([0-9]{1,6})$/.exec(spec.trim());
    if (d !== null) {
      out.applyDelayMs = Number(d[1]);
      continue;
    }
    const m = /^(apply|put)=([1-5][0-9]{2})(?::(once|always))?$/.exec(spec.trim());
    if (m === null) {
      throw new AppError('BAD_USAGE', `"${spec}" is not a fault`, `Give --fault ${FAULT_SYNTAX}, e.g. --fault apply=503.`);
    }
    const status = Number(m[2]);
    if (status < 400) throw new AppError('BAD_USAGE', `fault status ${status} is not an error status`, 'Use a 4xx or 5xx status, e.g. apply=503.');
    const once = m[3] !== 'always';
    if (m[1] === 'apply') {
      out.applyStatus = status;
      out.applyOnce = once;
    } else {
      out.putStatus = status;
      out.putOnce = once;
    }
  }
  return out;
}

/** The faults in words, for the start-up line. */
export function describeFaults(f: PracticeFaults): string {
  const parts: string[] = [];
  if (f.applyStatus !== undefined) {
    parts.push(`apply answers ${f.applyStatus}${f.applyStatus >= 500 ? ' after publishing the CI root only (a partial apply)' : ''} ${f.applyOnce === true ? 'once' : 'every time'}`);
  }
  if (f.applyDelayMs !== undefined) parts.push(`every apply waits ${f.applyDelayMs} ms (in APPLYING)`);
  if (f.putStatus !== undefined) parts.push(`uploads answer ${f.putStatus} ${f.putOnce === true ? 'once' : 'every time'}`);
  return parts.join('; ');
}

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
const APPLYING_LINE = 'rule 2: the transaction is APPLYING; only apply may run (again)';
const TARGETS_WAVE = 'The TUF targets key rotation or deletion is not allowed while a wave is active';
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

function onlyFields(body: JsonObject, allowed: readonly string[], rule: number): void {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new ApiFailure(400, 'Invalid request body', unknown.map((k) => `rule ${rule}: unknown field "${k}"`));
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
  if (typeof t !== 'string') throw new ApiFailure(400, 'Invalid request body', ['rule 4: "txid" must be a string']);
  return t;
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
  const self = async (req: FastifyRequest): Promise<JsonObject> => ({
    'polis-id': caller(req).polisId,
    name: caller(req).name === 'owner' ? state.config.userName : caller(req).name,
    role: caller(req).role,
    'teams-ext': [],
    'effective-scopes': ['targets:read-update', 'devices:read'],
  });
  app.get(`${fac}/users/self/`, self);
  app.get(`${fac}/users/self`, self);
  app.get(`${fac}/users/`, async () => practiceUsersList(state.config)); // fioctl `users`

  // E9
  // Read in the mutation queue too: a GET never sees a PUT half persisted (signers re-read, then merge).
  app.get(`${repo}/root/updates`, async () => exclusive(async () => updatesJson(state, now())));

  // E10 init
  app.post(`${repo}/root/updates`, async (req, reply) =>
    exclusive(async () => {
      const body = bodyObject(req, true);
      onlyFields(body, ['message', 'first-time', 'shortcut'], 3);
      const message = body['message'] ?? '';
      const firstTime = body['first-time'] ?? false;
      const shortcut = body['shortcut'] ?? false;
      const errors: string[] = [];
      if (typeof message !== 'string') errors.push('rule 3: "message" must be a string');
      else if (message.length > MAX_MESSAGE || !isPrintableAscii(message)) {
        errors.push(`rule 3: "message" must be printable ASCII, at most ${MAX_MESSAGE} characters (it is signed into x-changelog)`);
      }
      if (typeof firstTime !== 'boolean') errors.push('rule 3: "first-time" must be a boolean');
      if (typeof shortcut !== 'boolean') errors.push('rule 3: "shortcut" must be a boolean');
      if (errors.length > 0 || typeof message !== 'string' || typeof firstTime !== 'boolean' || typeof shortcut !== 'boolean') {
        throw new ApiFailure(400, 'Invalid request body', errors);
      }
      if (state.transaction !== undefined) throw new ApiFailure(409, ONLY_ONE, [`rule 1: a transaction is open (status ${state.transaction.status}); cancel or apply it first`]);

      let firstRoot: { sec: string; pub: string } | undefined;
      if (firstTime) {
        const sec = await state.serverKey('first-root.sec');
        const pub = await state.serverKey('first-root.pub');
        if (!state.config.firstTimePending || sec === undefined || pub === undefined) {
          throw new ApiFailure(400, 'First-time TUF root updates are not possible for this Factory', [
            'rule 6: the offline root key was already handed to the Factory owner',
          ]);
        }
        firstRoot = { sec: Buffer.from(sec).toString('utf8'), pub: Buffer.from(pub).toString('utf8') };
      }

      const at = now();
      const who = caller(req).polisId;
      const ci = state.rootDocument('ci');
      const prod = state.rootDocument('prod');
      const changelog: JsonObject = { 'polis-id': who, message, timestamp: stamp(at) };
      const ciSigned = stagedSigned(ci.signed, changelog);
      const tx: Transaction = {
        txid: newTxid(),
        status: 'STARTED',
        firstTime,
        shortcut,
        message,
        createdBy: who,
        createdAt: stamp(at),
        updatedBy: who,
        updatedAt: stamp(at),
        changelog,
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
      if (faults.putStatus !== undefined) {
        const status = faults.putStatus;
        if (faults.putOnce === true) faults = { ...faults, putStatus: undefined, putOnce: undefined };
        return fail(reply, status, 'Injected fault: PUT refused');
      }
      const body = bodyObject(req, true);
      onlyFields(body, ['txid', 'ci-root', 'prod-root', 'targets-signatures', 'waves-signatures'], 11);
      const tx = openTransaction(state, txidOf(body), caller(req), 2);
      if (tx.status !== 'STARTED') throw new ApiFailure(423, APPLYING, [APPLYING_LINE]);
      for (const f of ['ci-root', 'prod-root']) {
        if (body[f] === undefined) throw new ApiFailure(400, 'Invalid request body', [`rule 11: "${f}" is required`]);
      }
      const errors: string[] = [];
      const maps: Partial<Record<'targets-signatures' | 'waves-signatures', JsonObject>> = {};
      for (const f of ['targets-signatures', 'waves-signatures'] as const) {
        const v = body[f];
        if (v === undefined || v === null) continue;
        if (!isJsonObject(v)) throw new ApiFailure(400, 'Invalid request body', [`rule 11: "${f}" must be an object`]);
        maps[f] = v;
      }
      const at = now();
      const online = tx.onlineKeys ?? state.config.onlineKeys;
      // Partly signed roots are staged (holders sign one after the other); apply checks the thresholds.
      const ci = checkStagedRoot(currentRoot(state, 'ci'), body['ci-root'], 'ci-root', at, { thresholds: false });
      const prod = checkStagedRoot(currentRoot(state, 'prod'), body['prod-root'], 'prod-root', at, { thresholds: false });
      errors.push(...ci.errors, ...prod.errors);
      if (ci.root !== undefined && prod.root !== undefined) errors.push(...checkProdMatchesCi(ci.root, prod.root));
      if (ci.malformed || prod.malformed) throw new ApiFailure(400, 'Invalid TUF root', errors);
      // Rule 32 (strict): no targets-key rotation or deletion while a wave is active.
      if (opts.strictWaves === true && ci.root !== undefined) {
        const blocked = await strictWavesRefusal(state, ci.root, online.targets);
        if (blocked.length > 0) throw new ApiFailure(409, TARGETS_WAVE, blocked);
      }
      const ctx = {
        current: currentRoot(state, 'ci'),
        changelog: tx.changelog,
        previous: tx.ciRoot.signed,
        online,
        caller: caller(req).polisId,
        now: at,
        ownerMustBeCaller: opts.ownerMustBeCaller ?? true,
      };
      if (ci.root !== undefined) errors.push(...checkStagingRules(ci.root, 'ci-root', ctx));
      if (prod.root !== undefined) errors.push(...checkStagingRules(prod.root, 'prod-root', ctx));
      // Rule 25: staged signatures for production tags and active waves.
      const sigErrors: string[] = [];
      if (prod.root !== undefined) {
        if (maps['targets-signatures'] !== undefined) {
          sigErrors.push(...checkStagedTargetsSignatures('targets-signatures', maps['targets-signatures'], await state.targetsFile('prod'), prod.root, online.targets));
        }
        if (maps['waves-signatures'] !== undefined) {
          sigErrors.push(...checkStagedTargetsSignatures('waves-signatures', maps['waves-signatures'], await state.targetsFile('waves'), prod.root, online.targets));
        }
      }
      if (sigErrors.length > 0) throw new ApiFailure(400, 'Invalid targets signatures', sigErrors.map((e) => `rule 25: ${e}`));
      if (errors.length > 0) throw new ApiFailure(422, 'The staged TUF roots were refused', errors);
      await state.saveTransaction({
        ...tx,
        ciRoot: cloneJson(body['ci-root'] ?? null) as RootDocument,
        prodRoot: cloneJson(body['prod-root'] ?? null) as RootDocument,
        signed: ci.thresholdErrors.length === 0 && prod.thresholdErrors.length === 0,
        unsignedReasons: [...ci.thresholdErrors, ...prod.thresholdErrors],
        updatedBy: caller(req).polisId,
        updatedAt: stamp(at),
        ...mergeSignatures(tx, maps),
      });
      return {};
    }),
  );

  // E12 apply: checks and APPLYING, then publishing. With `applyDelayMs` the transaction waits in
  // APPLYING between the two (other requests answered meanwhile); without it both run as one step.
  app.post(`${repo}/root/updates/apply`, async (req, reply) => {
    const body = bodyObject(req, false);
    onlyFields(body, ['txid'], 4);
    const txid = txidOf(body);
    const publish = async (txidApplying: string, injected: number | undefined): Promise<unknown> => {
      const tx = state.transaction;
      // Another apply of the same transaction finished it meanwhile.
      if (tx === undefined || tx.txid !== txidApplying) return {};
      if (state.version('ci') < tx.baseVersion + 1) await state.appendRoot('ci', tx.ciRoot);
      if (injected !== undefined) return fail(reply, injected, 'Injected fault: apply interrupted after the CI root was published');
      if (state.version('prod') < tx.baseVersion + 1) {
        const after = await targetsAfterApply(state, tx);
        await state.saveTargetsFile('prod', after.prod);
        await state.saveTargetsFile('waves', after.waves);
        await state.appendRoot('prod', tx.prodRoot);
      }
      if (tx.onlineKeys !== undefined) await state.saveConfig({ ...state.config, onlineKeys: tx.onlineKeys });
      if (tx.firstTime) {
        // The owner's key has replaced it: the server no longer keeps the first root key.
        await state.removeServerKey('first-root.sec');
        await state.removeServerKey('first-root.pub');
      }
      await state.clearTransaction();
      return {};
    };
    const slow = faults.applyDelayMs ?? 0;
    const started = await exclusive(async (): Promise<{ done: unknown } | { txid: string; injected: number | undefined }> => {
      const tx = openTransaction(state, txid, caller(req), 35);
      const injected = faults.applyStatus;
      if (injected !== undefined && faults.applyOnce === true) faults = { ...faults, applyStatus: undefined, applyOnce: undefined };
      if (injected !== undefined && injected < 500) return { done: fail(reply, injected, 'Injected fault: apply refused') };
      if (!tx.signed) {
        throw new ApiFailure(422, 'The staged TUF root updates are not signed by enough root keys', tx.unsignedReasons ?? [
          'rule 29: PUT signed ci-root and prod-root before applying',
        ]);
      }
      if (tx.status === 'STARTED') {
        // Time may have passed since the PUT: the staged roots must still be acceptable.
        const at = now();
        const errors = [
          ...checkStagedRoot(currentRoot(state, 'ci'), tx.ciRoot, 'ci-root', at).errors,
          ...checkStagedRoot(currentRoot(state, 'prod'), tx.prodRoot, 'prod-root', at).errors,
        ];
        if (opts.strictWaves === true) {
          const blocked = await strictWavesRefusal(state, parseRoot(tx.ciRoot, 'staged ci-root'), (tx.onlineKeys ?? state.config.onlineKeys).targets);
          if (blocked.length > 0) throw new ApiFailure(409, TARGETS_WAVE, blocked);
        }
        // Rules 31, 32: every production tag and active wave meets the new production targets threshold.
        errors.push(...(await targetsAfterApply(state, tx)).errors);
        if (errors.length > 0) throw new ApiFailure(422, 'The staged TUF roots can no longer be applied', errors);
      }
      await state.saveTransaction({ ...tx, status: 'APPLYING', updatedAt: stamp(now()) });
      if (slow === 0) return { done: await publish(tx.txid, injected) };
      return { txid: tx.txid, injected };
    });
    if ('done' in started) return started.done;
    await applyDelay(slow);
    return exclusive(() => publish(started.txid, started.injected));
  });

  // E13 cancel (no body)
  app.post(`${repo}/root/updates/cancel`, async () =>
    exclusive(async () => {
      const tx = state.transaction;
      if (tx === undefined) throw new ApiFailure(404, NONE_IN_PROGRESS, ['rule 2: there is no open transaction to cancel (status NONE)']);
      if (tx.status === 'APPLYING') throw new ApiFailure(423, 'TUF root updates cannot be canceled while they are being applied', ['rule 2: a transaction in APPLYING cannot be canceled; re-run apply']);
      await state.clearTransaction();
      return {};
    }),
  );

  // E14 gen-online-keys
  app.post(`${repo}/root/updates/gen-online-keys`, async (req) =>
    exclusive(async () => {
      const body = bodyObject(req, true);
      onlyFields(body, ['txid', 'key-type', 'targets', 'snapshot', 'timestamp'], 26);
      const tx = openTransaction(state, txidOf(body), caller(req), 2);
      if (tx.status !== 'STARTED') throw new ApiFailure(423, APPLYING, [APPLYING_LINE]);
      const keyType = body['key-type'];
      if (keyType !== 'ED25519' && keyType !== 'RSA') throw new ApiFailure(400, 'Invalid request body', ['rule 26: "key-type" must be ED25519 or RSA']);
      const roles = (['targets', 'snapshot', 'timestamp'] as const).filter((r) => {
        const v = body[r];
        if (v !== undefined && v !== true) throw new ApiFailure(400, 'Invalid request body', [`rule 26: "${r}" may only be true`]);
        return v === true;
      });
      if (roles.length === 0) throw new ApiFailure(400, 'Invalid request body', ['rule 26: name at least one of targets, snapshot, timestamp']);
      const waves = Object.keys(await state.targetsFile('waves'));
      if (waves.length > 0) {
        throw new ApiFailure(409, 'The TUF online key rotation is not allowed while a wave is active',
          waves.map((w) => `rule 32: active wave "${w}" blocks the online key rotation (rule 28)`));
      }
      const expires = Date.parse(String(tx.ciRoot.signed['expires']));
      if (!(expires > now().getTime())) {
        throw new ApiFailure(422, 'The staged TUF root has a too low expires value', ['rule 28: the staged root has expired; rotate the root key first (it sets a new expiry)']);
      }
      const online: OnlineKeyIds = { ...(tx.onlineKeys ?? state.config.onlineKeys) };
      const ci = cloneJson(tx.ciRoot) as RootDocument;
      const prod = cloneJson(tx.prodRoot) as RootDocument;
      for (const role of roles) {
        const key = await generateKey(keyType === 'RSA' ? 'rsa' : 'ed25519');
        const id = keyIdFoundries(key.publicKey);
        const pair = archivePairFiles(key);
        await state.saveServerKey(`${role}-online-${id}.sec`, pair.sec);
        await state.saveServerKey(`${role}-online-${id}.pub`, pair.pub);
        for (const doc of [ci, prod]) replaceKey(doc.signed, role, online[role], id, newRootKeyJson('foundries', key.publicKey));
        online[role] = id;
      }
      ci.signatures = [];
      prod.signatures = [];
      await state.saveTransaction({ ...tx, ciRoot: ci, prodRoot: prod, onlineKeys: online, signed: false, updatedBy: caller(req).polisId, updatedAt: stamp(now()) });
      return {};
    }),
  );

  // E15, E16
  const targetsRoute = (which: 'prod' | 'waves', param: 'tag' | 'name') => async (req: FastifyRequest, reply: FastifyReply) => {
    const all = await state.targetsFile(which);
    const raw = (req.query as Record<string, unknown>)[param];
    const wanted = typeof raw === 'string' && raw !== '' ? raw.split(',') : Object.keys(all);
    const unknown = wanted.filter((n) => all[n] === undefined);
    if (wanted.length === 0) return fail(reply, 404, which === 'prod' ? 'No production targets' : 'No active waves', [`rule 36: the Factory has no ${which === 'prod' ? 'production tags' : 'active waves'}`]);
    if (unknown.length > 0) return fail(reply, 404, `Not found: ${unknown.join(', ')}`, unknown.map((n) => `rule 36: no ${which === 'prod' ? 'production tag' : 'active wave'} "${n}"`));
    const out: JsonObject = {};
    for (const n of wanted) out[n] = all[n] ?? null;
    return out;
  };
  app.get(`${fac}/prod-targets/`, targetsRoute('prod', 'tag'));
  app.get(`${fac}/wave-targets/`, targetsRoute('waves', 'name'));

  // Stand-in: a CI target upload (fioctl `targets add`); rule 34.
  app.post(`${fac}/targets/`, async (req, reply) =>
    exclusive(async () => {
      const body = bodyObject(req, true);
      const blocked = ciUploadBlocked(state.transaction, state.config.onlineKeys);
      if (blocked.length > 0) throw new ApiFailure(423, 'New CI targets cannot be uploaded while an online key rotation is being applied', blocked);
      const upload = checkCiTargetsUpload(body);
      if (upload.errors.length > 0) throw new ApiFailure(400, 'Invalid request body', upload.errors);
      await state.saveTargetsFile('ci', { ...(await state.targetsFile('ci')), ...upload.targets });
      return reply.code(201).send({});
    }),
  );

  // Stand-in: a wave creation (fioctl `waves init`); rule 34. The server adds its online targets signature.
  app.post(`${fac}/waves/`, async (req, reply) =>
    exclusive(async () => {
      const body = bodyObject(req, true);
      const blocked = waveCreationBlocked(state.transaction, state.config.onlineKeys);
      if (blocked.length > 0) throw new ApiFailure(409, 'A wave cannot be created while TUF root updates are open', blocked);
      const waves = await state.targetsFile('waves');
      const online = state.config.onlineKeys.targets;
      const wave = checkWaveCreate(body, currentRoot(state, 'ci'), online, waves);
      if (wave.errors.length > 0 || wave.signed === undefined) throw new ApiFailure(400, 'Invalid wave', wave.errors);
      const signer = await onlineTargetsKey(state, online);
      const [byOnline] = await signRoot('foundries', wave.signed, [{ keyid: online, signer: new LocalSigner(signer) }]);
      await state.saveTargetsFile('waves', { ...waves, [wave.name]: { signatures: [...(byOnline ? [byOnline] : []), ...wave.signatures], signed: wave.signed } });
      return reply.code(201).send({});
    }),
  );

  return app;
}

/** Replaces a role's online key ID in a staged root's `signed` (E14); drops the old key if unused. */
function replaceKey(signed: JsonObject, role: string, oldId: string, newId: string, keyJson: JsonObject): void {
  const keys = signed['keys'];
  const roles = signed['roles'];
  if (!isJsonObject(keys) || !isJsonObject(roles)) return;
  keys[newId] = keyJson;
  const r = roles[role];
  if (isJsonObject(r) && Array.isArray(r['keyids'])) r['keyids'] = r['keyids'].map((k) => (k === oldId ? newId : k));
  const stillUsed = Object.values(roles).some((x) => isJsonObject(x) && Array.isArray(x['keyids']) && x['keyids'].includes(oldId));
  if (!stillUsed) delete keys[oldId];
}

/** Rule 12: staged targets/waves signatures are merged per (name, keyid); omitted maps keep earlier ones. */
function mergeSignatures(tx: Transaction, maps: Partial<Record<'targets-signatures' | 'waves-signatures', JsonObject>>): Pick<Transaction, 'targetsSignatures' | 'wavesSignatures'> {
  const merge = (old: Record<string, JsonObject[]> | undefined, add: JsonObject | undefined): Record<string, JsonObject[]> | undefined => {
    if (add === undefined) return old;
    const out: Record<string, JsonObject[]> = { ...(old ?? {}) };
    for (const [name, list] of Object.entries(add)) {
      const sigs = (Array.isArray(list) ? list : []).filter(isJsonObject);
      const ids = new Set(sigs.map((x) => x['keyid']));
      out[name] = [...(out[name] ?? []).filter((x) => !ids.has(x['keyid'])), ...sigs];
    }
    return out;
  };
  const out: Pick<Transaction, 'targetsSignatures' | 'wavesSignatures'> = {};
  const t = merge(tx.targetsSignatures, maps['targets-signatures']);
  const w = merge(tx.wavesSignatures, maps['waves-signatures']);
  if (t !== undefined) out.targetsSignatures = t;
  if (w !== undefined) out.wavesSignatures = w;
  return out;
}

/**
 * Rule 31: production tags and active waves as they will be after apply: signatures by keys no
 * longer in the targets role dropped, staged signatures added; each must meet the new production
 * targets threshold. A wave short of signatures after a targets-key rotation or deletion is refused
 * as rule 32 (allowed only when the waves are signed with the new key, `waves-signatures`).
 */
async function targetsAfterApply(
  state: PracticeState,
  tx: Transaction,
): Promise<{ prod: Record<string, JsonObject>; waves: Record<string, JsonObject>; errors: string[] }> {
  const prodRoot = parseRoot(tx.prodRoot, 'staged prod-root');
  const threshold = prodRoot.roles['targets']?.threshold ?? 2;
  const errors: string[] = [];
  const rotated = removedOfflineTargetsKeys(state, parseRoot(tx.ciRoot, 'staged ci-root'), (tx.onlineKeys ?? state.config.onlineKeys).targets).length > 0;
  const build = async (which: 'prod' | 'waves', staged: Record<string, JsonObject[]> | undefined): Promise<Record<string, JsonObject>> => {
    const all = await state.targetsFile(which);
    const out: Record<string, JsonObject> = {};
    for (const [name, entry] of Object.entries(all)) {
      const signed = entry['signed'];
      if (!isJsonObject(signed)) continue;
      const old = (Array.isArray(entry['signatures']) ? entry['signatures'] : []).filter(isJsonObject);
      const add = staged?.[name] ?? [];
      const ids = new Set(add.map((x) => x['keyid']));
      const sigs = [...old.filter((x) => !ids.has(x['keyid'])), ...add].filter((x) => prodRoot.roles['targets']?.keyids.includes(String(x['keyid'])));
      const valid = validTargetsSigners(prodRoot, signed, sigs);
      if (valid.length < threshold && which === 'waves' && rotated) {
        errors.push(`rule 32: active wave "${name}" would have ${valid.length} valid targets signatures, ${threshold} needed: a targets-key rotation or deletion while a wave is active must sign the wave with an offline targets key of the new root (waves-signatures)`);
      } else if (valid.length < threshold) {
        errors.push(`rule 31: ${which === 'prod' ? 'production tag' : 'wave'} "${name}" would have ${valid.length} valid targets signatures, ${threshold} needed (sign it with the offline targets key)`);
      }
      out[name] = { signatures: sigs, signed };
    }
    return out;
  };
  const prod = await build('prod', tx.targetsSignatures);
  const waves = await build('waves', tx.wavesSignatures);
  return { prod, waves, errors };
}

function authorized(req: FastifyRequest, users: readonly { user: PracticeUser; digest: Buffer }[]): PracticeUser | undefined {
  let given: Buffer | undefined;
  const header = req.headers['osf-token'];
  if (typeof header === 'string') given = digest(header);
  const auth = req.headers.authorization;
  if (given === undefined && typeof auth === 'string') {
    const m = /^Bearer ([A-Za-z0-9+/=_-]+)$/.exec(auth);
    if (m?.[1] !== undefined) given = digest(Buffer.from(m[1], 'base64'));
  }
  if (given === undefined) return undefined;
  let found: PracticeUser | undefined;
  for (const u of users) if (timingSafeEqual(given, u.digest)) found = u.user;
  return found;
}

/**
 * The open transaction, for a request that carries a txid (PUT, apply, E14; §6.1 rule 4): the
 * initiator may send "", anyone else must send the exact txid (403 otherwise).
 */
function openTransaction(state: PracticeState, txid: string, user: PracticeUser, noneRule: 2 | 35): Transaction {
  const tx = state.transaction;
  if (tx === undefined) throw new ApiFailure(404, NONE_IN_PROGRESS, [`rule ${noneRule}: there is no open transaction (status NONE)`]);
  if (txid === '' && user.polisId !== tx.createdBy) {
    throw new ApiFailure(403, 'Only the user who initiated the TUF root updates may omit the transaction ID', ['rule 4: give the transaction ID (txid) the initiator shared']);
  }
  if (txid !== '' && txid !== tx.txid) throw new ApiFailure(403, 'The transaction ID does not match the TUF root updates in progress', ['rule 4: a wrong transaction ID (or one of a finished transaction, rule 5)']);
  return tx;
}

/** Offline targets keys (of the current CI root) the staged root no longer lists: a targets-key rotation or deletion. */
function removedOfflineTargetsKeys(state: PracticeState, staged: Root, onlineTargets: string): string[] {
  const current = currentRoot(state, 'ci').roles['targets']?.keyids ?? [];
  const next = staged.roles['targets']?.keyids ?? [];
  return current.filter((k) => k !== state.config.onlineKeys.targets && k !== onlineTargets && !next.includes(k));
}

/** Rule 32, strict (fioctl's help): refusal lines when the staged root rotates or deletes an offline targets key while a wave is active. */
async function strictWavesRefusal(state: PracticeState, staged: Root, onlineTargets: string): Promise<string[]> {
  const removed = removedOfflineTargetsKeys(state, staged, onlineTargets);
  if (removed.length === 0) return [];
  const waves = Object.keys(await state.targetsFile('waves'));
  return waves.map((w) => `rule 32: active wave "${w}" blocks rotating or deleting the offline targets key ${removed.map((k) => k.slice(0, 8)).join(', ')} (strict waves)`);
}

/** The private key of the current online targets key, as the server holds it. */
async function onlineTargetsKey(state: PracticeState, keyid: string): Promise<PrivateKey> {
  for (const name of [`targets-online-${keyid}.sec`, 'targets-online.sec']) {
    const bytes = await state.serverKey(name);
    if (bytes === undefined) continue;
    const key = parseArchiveSecret(JSON.parse(Buffer.from(bytes).toString('utf8')) as JsonObject);
    if (keyIdFoundries(key.publicKey) === keyid) return key;
  }
  throw new ApiFailure(500, 'The online targets key is missing from the practice factory');
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
  if (tx !== undefined) {
    // §6.3 rule 22: a staged expiry more than 366 days ahead is allowed, with a warning (docs conflict).
    const staged = Date.parse(String(tx.ciRoot.signed['expires']));
    if (Number.isFinite(staged) && staged - now.getTime() > 366 * 24 * 3600 * 1000) {
      warnings.push({ kind: 'root-expires-late', message: 'The staged TUF root expires more than a year from now', args: { expires: String(tx.ciRoot.signed['expires']) } });
    }
  }
  const errors: JsonObject[] = [];
  if (tx !== undefined && !tx.signed) {
    errors.push({ kind: 'not-signed', message: 'The updated TUF roots are not signed by enough root keys', args: {} });
    for (const r of tx.unsignedReasons ?? []) errors.push({ kind: 'not-signed', message: r, args: {} });
  }
  const out: JsonObject = {
    status: state.status,
    'first-time': tx?.firstTime ?? false,
    current: { 'ci-root': compact(ci), 'prod-root': compact(state.rootDocument('prod')), 'online-keys': online },
    amendments: [],
    issues: { errors, warnings },
  };
  if (tx !== undefined) {
    out['updated'] = { 'ci-root': compact(tx.ciRoot), 'prod-root': compact(tx.prodRoot), 'online-keys': { ...(tx.onlineKeys ?? state.config.onlineKeys) } };
    out['change-meta'] = {
      'created-by': tx.createdBy,
      'created-at': tx.createdAt,
      'updated-by': tx.updatedBy,
      'updated-at': tx.updatedAt,
    };
  }
  return out;
}
