/**
 * HTTP transport helpers of the Foundries client: what counts as success, requests without an
 * answer, and the server's error text with the token redacted (see foundries-client.ts).
 */
import { AppError } from '../errors.js';
import { isJsonObject } from '../tuf/json.js';
import type { FoundriesHttpFailure } from './foundries-types.js';

export interface HttpResult {
  status: number;
  text: string;
}

/** A request that got no HTTP answer (refused connection, DNS, TLS, timeout). */
export class NoAnswer extends Error {
  constructor(
    readonly timedOut: boolean,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(reason, options);
  }
}

export function ok(status: number): boolean {
  // fioctl's readResponse: exactly these count as success.
  return status === 200 || status === 201 || status === 202 || status === 204;
}

export function partialApply(message: string, cause: unknown): AppError {
  return new AppError('TARGET_PARTIAL_APPLY', `${message}. The staged TUF root updates may be only partially applied to your Factory.`,
    'Re-run apply after a short pause. If the error persists, contact Foundries customer support. Keep the new key archive: the Factory may already trust the new root key.',
    { cause });
}

export function describeNoAnswer(e: unknown, timeoutMs: number): NoAnswer {
  const name = (e as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new NoAnswer(true, `no answer within ${Math.round(timeoutMs / 100) / 10} s`, { cause: e });
  }
  const cause = (e as { cause?: { code?: unknown } } | null)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const reasons: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    ECONNRESET: 'connection reset',
    ETIMEDOUT: 'connection timed out',
    EHOSTUNREACH: 'host unreachable',
  };
  return new NoAnswer(false, code === undefined ? 'network error' : (reasons[code] ?? code), { cause: e });
}

/** Removes the token (if a server echoes it), control characters, and excess length. */
export function clean(s: string, token: string): string {
  let out = token.length >= 4 ? s.split(token).join('[redacted]') : s;
  out = Array.from(out, (ch) => (ch.charCodeAt(0) < 0x20 || ch === '\u007f' ? ' ' : ch))
    .join('')
    .replace(/ {2,}/g, ' ')
    .trim();
  return out.length > 1000 ? `${out.slice(0, 1000)}…` : out;
}

export function details(method: string, p: string, res: HttpResult, token: string): FoundriesHttpFailure {
  const { message, errors } = serverMessage(res, token);
  return { method, path: p, status: res.status, message, errors };
}

/** The server's `message`/`msg` and `errors` (list or map), as fioctl prints them. */
export function serverMessage(res: HttpResult, token: string): { message: string | undefined; errors: string[] } {
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    const raw = res.text.length < 512 ? clean(res.text, token) : '';
    return { message: raw === '' ? undefined : raw, errors: [] };
  }
  if (!isJsonObject(body)) return { message: undefined, errors: [] };
  const m = body['message'] ?? body['msg'];
  const message = typeof m === 'string' && m !== '' ? clean(m, token) : undefined;
  const errors: string[] = [];
  const e = body['errors'];
  if (Array.isArray(e)) {
    for (const x of e) errors.push(clean(typeof x === 'string' ? x : JSON.stringify(x), token));
  } else if (isJsonObject(e)) {
    for (const [k, x] of Object.entries(e)) errors.push(clean(`${k}: ${typeof x === 'string' ? x : JSON.stringify(x)}`, token));
  }
  return { message, errors: errors.slice(0, 50) };
}

export function serverText(res: HttpResult, token: string): string {
  const { message, errors } = serverMessage(res, token);
  return [message, ...errors].filter((x): x is string => x !== undefined && x !== '').join('; ');
}
