/**
 * What the practice factory's routes share: the context the builder hands them (state, clock,
 * faults, the mutation queue), Foundries-shaped failures and messages, request body and txid
 * checks, the token check and the open transaction a request may act on.
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isJsonObject } from '../tuf/json.js';
import type { JsonObject } from '../tuf/json.js';
import { parseRoot } from '../tuf/metadata.js';
import type { Root } from '../tuf/model.js';
import type { PracticeFactoryOptions } from './factory-server.js';
import type { PracticeFaults } from './faults.js';
import type { PracticeState, PracticeUser, Transaction } from './state.js';

/** What buildPracticeFactory hands each group of routes. */
export interface PracticeContext {
  readonly app: FastifyInstance;
  readonly state: PracticeState;
  readonly opts: PracticeFactoryOptions;
  readonly now: () => Date;
  /** The faults in force; PUT and apply clear a fault that fires once. */
  faults: PracticeFaults;
  /** The admin a request authenticated as (401 when none). */
  caller(req: FastifyRequest): PracticeUser;
  /** One mutation at a time: each reads the state, checks, and persists before the next starts. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** A Foundries-shaped error reply. */
  fail(reply: FastifyReply, status: number, message: string, errors?: string[]): FastifyReply;
  /** Waits `ms` in APPLYING; setFaults and close end the wait at once. */
  applyDelay(ms: number): Promise<void>;
}

export const repo = '/ota/repo/:factory/api/v1/user_repo';
export const fac = '/ota/factories/:factory';

/** Thrown inside handlers; becomes a Foundries-shaped error reply. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: string[] = [],
  ) {
    super(message);
  }
}

export const ONLY_ONE = 'Only one TUF root updates transaction can be active at a time';
export const NONE_IN_PROGRESS = 'There are no TUF root updates in progress';
export const APPLYING = 'No modifications to TUF root updates allowed while they are being applied';
export const APPLYING_LINE = 'rule 2: the transaction is APPLYING; only apply may run (again)';
export const TARGETS_WAVE = 'The TUF targets key rotation or deletion is not allowed while a wave is active';
export const MAX_MESSAGE = 1024;

export function digest(s: string | Buffer): Buffer {
  return createHash('sha256').update(s).digest();
}

export function newTxid(): string {
  let s = '';
  for (let i = 0; i < 8; i++) s += String.fromCharCode(65 + randomInt(26));
  return s;
}

/** RFC 3339 UTC with whole seconds, as Foundries writes `created-at`. */
export function stamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function onlyFields(body: JsonObject, allowed: readonly string[], rule: number): void {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new ApiFailure(400, 'Invalid request body', unknown.map((k) => `rule ${rule}: unknown field "${k}"`));
}

export function bodyObject(req: FastifyRequest, required: boolean): JsonObject {
  const b = req.body;
  if (b === undefined || b === null) {
    if (required) throw new ApiFailure(400, 'Invalid request body', ['a JSON object is required']);
    return {};
  }
  if (!isJsonObject(b)) throw new ApiFailure(400, 'Invalid request body', ['a JSON object is required']);
  return b;
}

export function txidOf(body: JsonObject): string {
  const t = body['txid'] ?? '';
  if (typeof t !== 'string') throw new ApiFailure(400, 'Invalid request body', ['rule 4: "txid" must be a string']);
  return t;
}

export function authorized(req: FastifyRequest, users: readonly { user: PracticeUser; digest: Buffer }[]): PracticeUser | undefined {
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
export function openTransaction(state: PracticeState, txid: string, user: PracticeUser, noneRule: 2 | 35): Transaction {
  const tx = state.transaction;
  if (tx === undefined) throw new ApiFailure(404, NONE_IN_PROGRESS, [`rule ${noneRule}: there is no open transaction (status NONE)`]);
  if (txid === '' && user.polisId !== tx.createdBy) {
    throw new ApiFailure(403, 'Only the user who initiated the TUF root updates may omit the transaction ID', ['rule 4: give the transaction ID (txid) the initiator shared']);
  }
  if (txid !== '' && txid !== tx.txid) throw new ApiFailure(403, 'The transaction ID does not match the TUF root updates in progress', ['rule 4: a wrong transaction ID (or one of a finished transaction, rule 5)']);
  return tx;
}

export function currentRoot(state: PracticeState, kind: 'ci' | 'prod'): Root {
  return parseRoot(state.rootDocument(kind), `${kind} root`);
}
