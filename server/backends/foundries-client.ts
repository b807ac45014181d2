/**
 * A client for the Foundries TUF API (foundries-api.md §2): root reads, the user, and the TUF root
 * updates transaction (init → PUT → apply, cancel). The practice factory speaks the same API.
 *
 * Unlike fioctl it has timeouts (default 30 s). Like fioctl it never retries anything, and apply
 * least of all: apply is not idempotent, and a failed apply is mapped with fioctl's split
 * (`tuf_updates_apply.go`): 400/401/403/422/423 → nothing changed (TARGET_REFUSED); 404 → re-read
 * the transaction; anything else, a network error or a timeout → maybe partially applied
 * (TARGET_PARTIAL_APPLY).
 *
 * A refusal says "No changes were made to your Factory" only after reading the Factory's state
 * back and finding it unchanged (nothing APPLYING, CI and production on the same version); otherwise
 * the message names what the Factory now serves (`stateSentence`).
 *
 * The token only ever goes into the request header: never into a message, and a server that echoes
 * it gets it redacted.
 *
 * Split by concept: foundries-types.ts (shapes), foundries-http.ts (transport and error text),
 * foundries-answers.ts (served roots, state sentences, E9 parsing), raw-json.ts, foundries-token.ts.
 */
import { AppError } from '../errors.js';
import type { ErrorCode } from '../../shared/errors.js';
import { isJsonObject } from '../tuf/json.js';
import type { Json, JsonObject } from '../tuf/json.js';
import { parseRoot } from '../tuf/metadata.js';
import type { Root, RootDocument } from '../tuf/model.js';
import { describeNoAnswer, details, NoAnswer, ok, partialApply, serverText, type HttpResult } from './foundries-http.js';
import { describeRoot, describeState, parseUpdates, ruleHint, sha256 } from './foundries-answers.js';
import type { ApplyOutcome, FactoryState, FoundriesClientOptions, InitResult, ServedRoot, TargetsEntry, TufRootUpdates, UpdatesStatus } from './foundries-types.js';

import { rawMember } from './raw-json.js';

export const DEFAULT_API_URL = 'https://api.foundries.io';
export const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
/** `history()` stops here even if the server keeps answering (a loop guard, not a real limit). */
const MAX_HISTORY = 100_000;

const FACTORY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

export class FoundriesClient {
  readonly apiUrl: string;
  readonly factory: string;
  readonly #token: string;
  readonly #tokenHeader: string;
  readonly #timeoutMs: number;
  readonly #userAgent: string;

  constructor(o: FoundriesClientOptions) {
    let url: URL;
    try {
      url = new URL(o.apiUrl);
    } catch {
      throw new AppError('BAD_USAGE', `"${o.apiUrl}" is not a URL`, 'Give the API base URL, e.g. https://api.foundries.io.');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new AppError('BAD_USAGE', `the API URL must be http(s), not ${url.protocol}`, 'Give the API base URL, e.g. https://api.foundries.io.');
    }
    if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
      throw new AppError('BAD_USAGE', 'the API URL must not carry credentials, a query or a fragment', 'Give the plain base URL and the token separately.');
    }
    if (!FACTORY_NAME.test(o.factory)) {
      throw new AppError('BAD_USAGE', `"${o.factory}" is not a valid factory name`, 'Give the factory name exactly as fioctl uses it (letters, digits, ".", "_", "-").');
    }
    if (o.token.length === 0 || /[\r\n\0]/.test(o.token)) {
      throw new AppError('TARGET_NOT_CONFIGURED', 'the API token is empty or not a single line', 'Check the token file or FIOCTL_TOKEN.');
    }
    const header = o.tokenHeader ?? 'OSF-TOKEN';
    if (!HEADER_NAME.test(header)) throw new AppError('BAD_USAGE', 'the token header name is not a valid HTTP header name', 'Use OSF-TOKEN.');
    this.apiUrl = url.href.replace(/\/+$/, '');
    this.factory = o.factory;
    this.#token = o.token;
    this.#tokenHeader = header;
    this.#timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#userAgent = o.userAgent ?? 'tuf-rotate';
  }

  /** Never shows the token. */
  toJSON(): JsonObject {
    return { apiUrl: this.apiUrl, factory: this.factory };
  }

  private get repoPath(): string {
    return `/ota/repo/${this.factory}/api/v1/user_repo`;
  }

  private get factoryPath(): string {
    return `/ota/factories/${this.factory}`;
  }

  // ------------------------------------------------------------------------------------------
  // Reads

  /** E1/E2: the newest CI (or production) root. */
  async currentRoot(prod = false): Promise<Root> {
    const p = `${this.repoPath}/root.json${prod ? '?production=1' : ''}`;
    const res = await this.call('GET', p, undefined, 'Reading the current TUF root');
    return parseRoot(res.text, `${prod ? 'production' : 'CI'} root.json of ${this.factory}`);
  }

  /** E3: root version `n`, or undefined when the Factory has no such version (404). */
  async rootVersion(n: number, prod = false): Promise<Root | undefined> {
    if (!Number.isSafeInteger(n) || n < 1) throw new AppError('BAD_USAGE', `root version ${n} is not a positive integer`, 'Versions start at 1.');
    const p = `${this.repoPath}/${n}.root.json${prod ? '?production=1' : ''}`;
    const res = await this.send('GET', p, undefined).catch((e: unknown) => {
      throw this.noAnswer(`Reading root version ${n}`, e);
    });
    if (res.status === 404) return undefined;
    if (!ok(res.status)) throw this.httpError(`Reading root version ${n}`, 'GET', p, res);
    return parseRoot(res.text, `${n}.root.json of ${this.factory}`);
  }

  /** Every root version, oldest first: 1, 2, … until the first 404 (fioctl `download-roots`). */
  async history(prod = false): Promise<Root[]> {
    const out: Root[] = [];
    for (let n = 1; n <= MAX_HISTORY; n++) {
      const r = await this.rootVersion(n, prod);
      if (r === undefined) break;
      out.push(r);
    }
    return out;
  }

  /** E8: the user the token belongs to. */
  async self(): Promise<{ polisId: string; name?: string; role?: string }> {
    const res = await this.call('GET', `${this.factoryPath}/users/self/`, undefined, 'Reading your Foundries user');
    const body = this.json(res, 'users/self/');
    const polisId = body['polis-id'];
    if (typeof polisId !== 'string' || polisId === '') throw this.badAnswer('users/self/ has no "polis-id"');
    const out: { polisId: string; name?: string; role?: string } = { polisId };
    if (typeof body['name'] === 'string') out.name = body['name'];
    if (typeof body['role'] === 'string') out.role = body['role'];
    return out;
  }

  /**
   * `GET /ota/factories/F/users/` (fioctl `users`, client/foundries_users.go `UsersList`): the
   * Factory's users as parsed JSON, or undefined when the API does not answer it with 2xx JSON
   * (older API, a token without the scope): callers then fall back to `self()`.
   */
  async usersList(): Promise<unknown> {
    const res = await this.send('GET', `${this.factoryPath}/users/`, undefined).catch(() => undefined);
    if (res === undefined || !ok(res.status)) return undefined;
    try {
      return JSON.parse(res.text) as unknown;
    } catch {
      return undefined;
    }
  }

  /** E1/E2 with the bytes' digests: what the Factory serves now. */
  async servedRoot(prod = false): Promise<{ root: Root; served: ServedRoot }> {
    const p = `${this.repoPath}/root.json${prod ? '?production=1' : ''}`;
    const res = await this.call('GET', p, undefined, 'Reading the current TUF root');
    const root = parseRoot(res.text, `${prod ? 'production' : 'CI'} root.json of ${this.factory}`);
    return { root, served: describeRoot(root, sha256(res.text)) };
  }

  /** E1, E2 and E9 together: what is served, and what is staged. */
  async state(txid?: string): Promise<FactoryState> {
    const [ci, prod, updates] = await Promise.all([this.servedRoot(false), this.servedRoot(true), this.updates()]);
    const out: FactoryState = {
      factory: this.factory,
      status: updates.status,
      ci: ci.served,
      prod: prod.served,
      partial: updates.status === 'APPLYING' || ci.served.version > prod.served.version,
    };
    if (txid !== undefined && txid !== '' && updates.status !== 'NONE') out.txid = txid;
    const u = updates.updated;
    if (u !== undefined) {
      out.staged = {
        ci: describeRoot(u.ciRoot, u.ciSha256),
        prod: u.prodRoot === undefined ? undefined : describeRoot(u.prodRoot, u.prodSha256 ?? ''),
        errors: updates.issues.errors.map((e) => e.message),
        warnings: updates.issues.warnings.map((e) => e.message),
      };
      if (updates.changeMeta?.createdBy !== undefined) out.staged.createdBy = updates.changeMeta.createdBy;
      if (updates.changeMeta?.createdAt !== undefined) out.staged.createdAt = updates.changeMeta.createdAt;
    }
    return out;
  }

  /**
   * One sentence on what the Factory now serves, read back after a failure; says "No changes were
   * made to your Factory" only when the state shows it (served roots at `baseVersion`, nothing
   * applying). Never throws: an unreadable state is said as such.
   */
  async stateSentence(baseVersion?: number): Promise<string> {
    let st: FactoryState;
    try {
      st = await this.state();
    } catch {
      return `The state of ${this.factory} could not be read back; run \`tuf-rotate review --factory ${this.factory}\` to see what it serves.`;
    }
    return describeState(st, baseVersion);
  }

  /** E14: the server generates new online keys for the chosen roles in the staged roots. */
  async genOnlineKeys(o: { txid: string; keyType: 'ED25519' | 'RSA'; roles: readonly ('targets' | 'snapshot' | 'timestamp')[] }): Promise<void> {
    if (o.roles.length === 0) throw new AppError('BAD_USAGE', 'no online role to rotate', 'Name at least one of targets, snapshot, timestamp.');
    const p = `${this.repoPath}/root/updates/gen-online-keys`;
    const context = 'Generating new online TUF keys';
    const body: JsonObject = { 'key-type': o.keyType, txid: o.txid };
    for (const r of o.roles) body[r] = true;
    const res = await this.send('POST', p, body).catch((e: unknown) => {
      throw this.noAnswer(context, e);
    });
    if (ok(res.status)) return;
    if (res.status === 404) throw this.noTransaction(context, res, 'POST', p);
    throw await this.refusal(context, 'POST', p, res);
  }

  /** E15: production targets by tag (all tags when `tags` is empty); none → {}. */
  async prodTargets(tags: readonly string[] = []): Promise<Record<string, TargetsEntry>> {
    return this.targetsMap(`${this.factoryPath}/prod-targets/?tag=${tags.map(encodeURIComponent).join(',')}`, 'Reading production targets');
  }

  /** E16: active wave targets by name (all active waves when `names` is empty); none → {}. */
  async waveTargets(names: readonly string[] = []): Promise<Record<string, TargetsEntry>> {
    return this.targetsMap(`${this.factoryPath}/wave-targets/?name=${names.map(encodeURIComponent).join(',')}`, 'Reading wave targets');
  }

  private async targetsMap(p: string, context: string): Promise<Record<string, TargetsEntry>> {
    const res = await this.send('GET', p, undefined).catch((e: unknown) => {
      throw this.noAnswer(context, e);
    });
    if (res.status === 404) return {};
    if (!ok(res.status)) throw this.httpError(context, 'GET', p, res);
    const body = this.json(res, p.split('?')[0] ?? p);
    const out: Record<string, TargetsEntry> = {};
    for (const [name, v] of Object.entries(body)) {
      if (!isJsonObject(v) || !isJsonObject(v['signed']) || !Array.isArray(v['signatures'])) throw this.badAnswer(`${context}: "${name}" is not signed targets metadata`);
      const entryText = rawMember(res.text, name);
      const signedText = entryText === undefined ? undefined : rawMember(entryText, 'signed');
      out[name] = { signed: v['signed'], signatures: v['signatures'].filter(isJsonObject), signedText: signedText ?? JSON.stringify(v['signed']) };
    }
    return out;
  }

  /** E9: the TUF root updates transaction, roots parsed. */
  async updates(): Promise<TufRootUpdates> {
    const res = await this.call('GET', `${this.repoPath}/root/updates`, undefined, 'Reading the TUF root updates');
    return parseUpdates(this.json(res, 'root/updates'), this.factory, (m) => this.badAnswer(m));
  }

  // ------------------------------------------------------------------------------------------
  // The transaction

  /** E10: opens a transaction. 409 (one is already open) → TARGET_CONFLICT. */
  async init(o: { message: string; firstTime: boolean; shortcut: boolean }): Promise<InitResult> {
    const p = `${this.repoPath}/root/updates`;
    const context = 'Starting TUF root updates';
    const res = await this.send('POST', p, { message: o.message, 'first-time': o.firstTime, shortcut: o.shortcut }).catch((e: unknown) => {
      throw this.noAnswer(context, e);
    });
    if (res.status === 409) {
      throw this.failure('TARGET_CONFLICT', `${context} was refused: another TUF root updates transaction is open on ${this.factory}`, res, 'POST', p,
        `Only one TUF root updates transaction can be active at a time. See it with \`tuf-rotate review --factory ${this.factory}\`; ` +
          `finish it with \`tuf-rotate publish --factory ${this.factory}\` if it is yours and signed, or cancel it with ` +
          `\`tuf-rotate cancel --factory ${this.factory}\` (any Factory admin may), then start again.`);
    }
    if (!ok(res.status)) throw this.httpError(context, 'POST', p, res);
    const body = this.json(res, 'root/updates (init)');
    const txid = body['txid'];
    if (typeof txid !== 'string') throw this.badAnswer('init answered without a "txid"');
    const out: InitResult = { txid };
    const sec = rawMember(res.text, 'first_root.sec');
    const pub = rawMember(res.text, 'first_root.pub');
    if (o.firstTime) {
      if (sec === undefined || pub === undefined || !isJsonObject(body['first_root.sec']) || !isJsonObject(body['first_root.pub'])) {
        throw this.badAnswer('a first-time init answered without first_root.sec and first_root.pub');
      }
    }
    if (sec !== undefined && isJsonObject(body['first_root.sec'])) out.firstRootSec = new TextEncoder().encode(sec);
    if (pub !== undefined && isJsonObject(body['first_root.pub'])) out.firstRootPub = new TextEncoder().encode(pub);
    return out;
  }

  /** E11: stages the signed CI and production roots. */
  async put(o: {
    txid: string;
    ciRoot: RootDocument;
    prodRoot: RootDocument;
    targetsSignatures?: JsonObject;
    wavesSignatures?: JsonObject;
  }): Promise<void> {
    const p = `${this.repoPath}/root/updates`;
    const context = 'Uploading the new TUF root';
    const body: JsonObject = { txid: o.txid, 'ci-root': o.ciRoot, 'prod-root': o.prodRoot };
    if (o.targetsSignatures !== undefined) body['targets-signatures'] = o.targetsSignatures;
    if (o.wavesSignatures !== undefined) body['waves-signatures'] = o.wavesSignatures;
    const res = await this.send('PUT', p, body).catch((e: unknown) => {
      throw this.noAnswer(context, e);
    });
    if (ok(res.status)) return;
    if (res.status === 404) throw this.noTransaction(context, res, 'PUT', p);
    if (res.status === 423) {
      throw this.failure('TARGET_PARTIAL_APPLY', `${context} was refused (HTTP 423): the staged TUF root updates are being applied`, res, 'PUT', p,
        `${await this.stateSentence()} Re-run apply (\`tuf-rotate publish --factory ${this.factory}\`) until both chains are published; do not upload again.`);
    }
    throw await this.refusal(context, 'PUT', p, res);
  }

  /**
   * E12: applies the staged updates. Called once; never retried here. Every failure says whether
   * the Factory is unchanged (TARGET_REFUSED, TARGET_CONFLICT) or maybe partly changed
   * (TARGET_PARTIAL_APPLY).
   */
  async apply(txid: string): Promise<ApplyOutcome> {
    const p = `${this.repoPath}/root/updates/apply`;
    const context = 'Applying the staged TUF root updates';
    let res: HttpResult;
    try {
      res = await this.send('POST', p, { txid });
    } catch (e) {
      const why = e instanceof NoAnswer ? e.reason : 'the request failed';
      throw partialApply(`${context}: no answer from the Foundries API (${why})`, e);
    }
    if (ok(res.status)) return { applied: true, status: res.status };
    if ([400, 401, 403, 422, 423].includes(res.status)) {
      const who = res.status === 403 ? ' Anyone but the initiator must give the transaction ID (--txid).' : '';
      throw this.failure('TARGET_REFUSED', `${context} was refused (HTTP ${res.status})`, res, 'POST', p,
        `${await this.stateSentence()}${who} ${ruleHint(serverText(res, this.#token)) ?? 'Fix the errors and re-run apply, or cancel the staged TUF root updates.'}`);
    }
    if (res.status === 404) {
      // fioctl re-reads the transaction: gone → nothing in progress (clean); still there → critical.
      let status: UpdatesStatus | undefined;
      try {
        status = (await this.updates()).status;
      } catch {
        status = undefined;
      }
      if (status === 'NONE') throw this.noTransaction(context, res, 'POST', p);
    }
    const detail = serverText(res, this.#token);
    throw partialApply(`${context} failed (HTTP ${res.status})${detail === '' ? '' : `: ${detail}`}`, details('POST', p, res, this.#token));
  }

  /** E13: cancels the open transaction (no body). */
  async cancel(): Promise<void> {
    const p = `${this.repoPath}/root/updates/cancel`;
    const context = 'Canceling the TUF root updates';
    const res = await this.send('POST', p, undefined).catch((e: unknown) => {
      throw this.noAnswer(context, e);
    });
    if (ok(res.status)) return;
    if (res.status === 404) throw this.noTransaction(context, res, 'POST', p);
    if (res.status === 423) {
      throw this.failure('TARGET_CONFLICT', `${context} was refused: they are being applied`, res, 'POST', p,
        'Wait until the apply has finished, then read the Factory state again.');
    }
    throw this.httpError(context, 'POST', p, res);
  }

  // ------------------------------------------------------------------------------------------
  // Transport

  private async send(method: string, p: string, body: Json | undefined): Promise<HttpResult> {
    const headers: Record<string, string> = {
      [this.#tokenHeader]: this.#token,
      'User-Agent': this.#userAgent,
      Accept: 'application/json',
    };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(this.apiUrl + p, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        // Never follow a redirect: it could carry the token header to another host.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      const buf = await res.arrayBuffer();
      if (buf.byteLength > MAX_RESPONSE_BYTES) return { status: 502, text: '{"message":"response too large"}' };
      return { status: res.status, text: new TextDecoder().decode(buf) };
    } catch (e) {
      throw describeNoAnswer(e, this.#timeoutMs);
    }
  }

  /** A request whose only acceptable answer is 2xx. */
  private async call(method: string, p: string, body: Json | undefined, context: string): Promise<HttpResult> {
    const res = await this.send(method, p, body).catch((e: unknown) => {
      throw this.noAnswer(context, e);
    });
    if (!ok(res.status)) throw this.httpError(context, method, p, res);
    return res;
  }

  private json(res: HttpResult, what: string): JsonObject {
    let v: unknown;
    try {
      v = JSON.parse(res.text);
    } catch {
      throw this.badAnswer(`${what} is not JSON`);
    }
    if (!isJsonObject(v)) throw this.badAnswer(`${what} is not a JSON object`);
    return v;
  }

  private noAnswer(context: string, e: unknown): AppError {
    const why = e instanceof NoAnswer ? e.reason : 'the request failed';
    return new AppError('TARGET_UNREACHABLE', `${context}: no answer from ${this.apiUrl} (${why})`,
      'Check the API URL and your network connection, then try again.', { cause: e });
  }

  private badAnswer(what: string): AppError {
    return new AppError('TARGET_REFUSED', `The Foundries API at ${this.apiUrl} gave an unexpected answer: ${what}`,
      'Check the API URL (--api-url); if it is right, report this answer to Foundries support.');
  }

  private noTransaction(context: string, res: HttpResult, method: string, p: string): AppError {
    return this.failure('TARGET_CONFLICT', `${context}: there are no TUF root updates in progress on ${this.factory}`, res, method, p,
      'Someone may have applied or canceled them meanwhile. Read the current root again and start over.');
  }

  private failure(code: ErrorCode, message: string, res: HttpResult, method: string, p: string, hint: string): AppError {
    const detail = serverText(res, this.#token);
    return new AppError(code, detail === '' ? message : `${message}: ${detail}`, hint, { cause: details(method, p, res, this.#token) });
  }

  /** The generic mapping of a non-2xx answer. */
  private httpError(context: string, method: string, p: string, res: HttpResult): AppError {
    const s = res.status;
    if (s === 401 || s === 403) {
      return this.failure('TARGET_AUTH_FAILED', `${context}: the Foundries API did not accept the token (HTTP ${s})`, res, method, p,
        'Check the API token (--token-file, FIOCTL_TOKEN or fioctl\'s config) and that your user may manage this Factory\'s TUF keys.');
    }
    if (s === 404) {
      return this.failure('TARGET_NOT_CONFIGURED', `${context}: not found (HTTP 404) at ${this.apiUrl}${p.split('?')[0] ?? ''}`, res, method, p,
        `Check the factory name "${this.factory}" and the API URL.`);
    }
    if (s === 409) {
      return this.failure('TARGET_CONFLICT', `${context}: conflict (HTTP 409)`, res, method, p,
        'Another change is in progress on this Factory; review or cancel it, then try again.');
    }
    if (s >= 500 || s < 400) {
      return this.failure('TARGET_UNREACHABLE', `${context}: the Foundries API answered HTTP ${s}`, res, method, p,
        'The service may be having problems; try again in a few minutes.');
    }
    return this.failure('TARGET_REFUSED', `${context} was refused (HTTP ${s})`, res, method, p, 'Fix the problem named above and try again.');
  }

  /** A refused change (PUT, E14): the generic mapping, its hint led by what the Factory now serves. */
  private async refusal(context: string, method: string, p: string, res: HttpResult): Promise<AppError> {
    const e = this.httpError(context, method, p, res);
    if (res.status >= 500) return e;
    const specific = ruleHint(serverText(res, this.#token));
    const hint = res.status === 401 || res.status === 403
      ? `${specific ?? e.hint} Anyone but the initiator must give the transaction ID (--txid).`
      : (specific ?? e.hint);
    return new AppError(e.code, e.message, `${await this.stateSentence()} ${hint}`, { cause: e.cause });
  }
}
