/**
 * Localhost only (product.md invariant 5), deny by default: one onRequest hook for every request
 * (static files included) and one onSend hook that puts the security headers on every reply.
 *
 * 1. Host must be exactly `127.0.0.1:PORT` or `localhost:PORT` (DNS rebinding): else 403 FORBIDDEN_HOST.
 * 2. Under /api, a browser's cross-site request is refused: `Origin`, when sent, must equal
 *    `http://<Host>`, and `Sec-Fetch-Site`, when sent, must be `same-origin` or `none` (else 403
 *    FORBIDDEN_ORIGIN). A state-changing request without `Origin` is accepted only under that same
 *    Sec-Fetch-Site rule: browsers always send Origin on POST (and Sec-Fetch-Site with it), so a
 *    request carrying neither comes from a non-browser client (curl, a script), which must still
 *    hold the token. No cookies are used, so the token in the Authorization header is what proves
 *    the caller; the Origin checks are defence in depth.
 * 3. Under /api, `Authorization: Bearer <token>`, compared in constant time (SHA-256 digests and
 *    timingSafeEqual, so neither the length nor a prefix leaks): else 401 UNAUTHORIZED.
 * 4. A POST must carry the route's media type: `application/json`, or for the key archive upload
 *    `application/gzip` (or `application/octet-stream`): else 415. A form or `text/plain` post
 *    (the kinds a foreign page can send without a preflight) never reaches a handler.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from './errors.js';

export interface SecurityOptions {
  token: string;
  /** The port we listen on, read at request time (known only after listen when it is 0). */
  port: () => number;
}

export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

export const JSON_TYPES: readonly string[] = ['application/json'];
export const ARCHIVE_TYPES: readonly string[] = ['application/gzip', 'application/x-gzip', 'application/octet-stream'];

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time comparison of a presented token with the expected one. */
export function tokenMatches(presented: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(presented), expected);
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  const raw = q === -1 ? url : url.slice(0, q);
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** Whether a request is for the API: by the route it matched, or by its decoded path (404s, encoded paths). */
export function isApiRequest(req: FastifyRequest): boolean {
  const route = req.routeOptions.url ?? '';
  const p = pathOf(req.url);
  return route === '/api' || route.startsWith('/api/') || p === '/api' || p.startsWith('/api/');
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

export function installSecurity(app: FastifyInstance, o: SecurityOptions): void {
  const expected = digest(o.token);

  app.addHook('onRequest', async (req: FastifyRequest) => {
    const port = o.port();
    const host = req.headers.host;
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      throw new AppError(
        'FORBIDDEN_HOST',
        'This server answers only requests addressed to 127.0.0.1 or localhost on its own port.',
        'Open the URL tuf-rotate printed (http://127.0.0.1:PORT/…).',
      );
    }
    if (!isApiRequest(req)) return;

    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`) {
      throw new AppError('FORBIDDEN_ORIGIN', 'Requests from another origin are refused.', 'Use the tuf-rotate page itself, opened from the URL it printed.');
    }
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      throw new AppError('FORBIDDEN_ORIGIN', 'Cross-site requests are refused.', 'Use the tuf-rotate page itself, opened from the URL it printed.');
    }

    const auth = req.headers.authorization;
    const m = auth === undefined ? null : /^Bearer ([A-Za-z0-9._~+/=-]{1,512})$/.exec(auth);
    if (!m?.[1] || !tokenMatches(m[1], expected)) {
      throw new AppError(
        'UNAUTHORIZED',
        'This request lacks the token of this launch of tuf-rotate.',
        'Open the URL tuf-rotate printed (it carries the token), or send Authorization: Bearer <token>.',
      );
    }

    if (!SAFE_METHODS.has(req.method)) {
      const config = req.routeOptions.config as { bodyType?: 'json' | 'gzip' } | undefined;
      const allowed = config?.bodyType === 'gzip' ? ARCHIVE_TYPES : JSON_TYPES;
      if (!allowed.includes(mediaType(req.headers['content-type']))) {
        throw new AppError(
          'UNSUPPORTED_MEDIA_TYPE',
          `This request must be sent as ${allowed[0] ?? 'application/json'}.`,
          config?.bodyType === 'gzip'
            ? 'Upload the .tgz file itself with Content-Type: application/gzip.'
            : 'Send a JSON object with Content-Type: application/json ({} when the step takes no arguments).',
        );
      }
    }
  });

  app.addHook('onSend', async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    reply.header('content-security-policy', CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    reply.header('cross-origin-opener-policy', 'same-origin');
    reply.header('cross-origin-resource-policy', 'same-origin');
    if (isApiRequest(req)) reply.header('cache-control', 'no-store');
    return payload;
  });
}
