import type { FastifyInstance } from 'fastify';
import type { ErrorCode } from '../shared/errors.js';


/**
 * An expected failure: bad input, a refused rotation, an unreachable target. The message says what
 * is wrong, the hint what to do. Never interpolate key bytes, passphrases or tokens into either;
 * `cause` may go to the log, never into a reply.
 */
export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** HTTP status per code; a new code without a status fails tsc. */
export const STATUS = {
  BAD_USAGE: 400,
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  FILE_EXISTS: 409,
  FILE_WRITE_FAILED: 500,
  INTERNAL: 500,
  JSON_INVALID: 400,
  JSON_TOO_LARGE: 413,
  ROOT_INVALID: 422,
  ROOT_DIALECT_UNKNOWN: 422,
  ROOT_FIELD_INVALID: 422,
  ROOT_NOT_CANONICALIZABLE: 422,
  ROOT_EXPIRED: 422,
  ROOT_TOO_LARGE: 413,
  KEY_INVALID: 422,
  KEY_TYPE_UNSUPPORTED: 422,
  KEY_MISMATCH: 422,
  KEY_NOT_IN_ROOT: 422,
  PKCS11_UNAVAILABLE: 424,
  PKCS11_URI_INVALID: 400,
  PKCS11_TOKEN_NOT_FOUND: 404,
  PKCS11_KEY_NOT_FOUND: 404,
  PKCS11_KEY_EXISTS: 409,
  PKCS11_PIN_REQUIRED: 400,
  PKCS11_PIN_INCORRECT: 403,
  PKCS11_PIN_LOCKED: 403,
  PKCS11_FAILED: 502,
  BACKUP_ACK_REQUIRED: 422,
  ARCHIVE_INVALID: 422,
  ARCHIVE_TOO_LARGE: 413,
  ARCHIVE_TOO_MANY_ENTRIES: 413,
  ARCHIVE_UNSAFE_ENTRY: 422,
  ARCHIVE_NO_ROOT_KEY: 422,
  ARCHIVE_PAIR_INCOMPLETE: 422,
  ARCHIVE_PAIR_MISMATCH: 422,
  ARCHIVE_TWO_ACTIVE_KEYS: 422,
  ARCHIVE_TMP_EXISTS: 409,
  ARCHIVE_READBACK_FAILED: 500,
  ROTATION_REFUSED: 422,
  ROTATION_LOCKOUT: 422,
  CHANGE_REFUSED: 422,
  SIGNATURES_NEEDED: 409,
  SIGNING_FAILED: 500,
  VERIFY_FAILED: 422,
  CHAIN_BROKEN: 422,
  TARGET_UNREACHABLE: 502,
  TARGET_AUTH_FAILED: 502,
  TARGET_CONFLICT: 409,
  TARGET_REFUSED: 422,
  TARGET_PARTIAL_APPLY: 502,
  TARGET_NOT_CONFIGURED: 409,
  REPO_INVALID: 422,
  PUBLISH_BEFORE_SAVE: 409,
  PUBLISH_FAILED: 502,
  UNAUTHORIZED: 401,
  FORBIDDEN_HOST: 403,
  FORBIDDEN_ORIGIN: 403,
  UNSUPPORTED_MEDIA_TYPE: 415,
  BODY_TOO_LARGE: 413,
  SESSION_STATE: 409,
  WORK_LOCKED: 409,
  JOB_NOT_FOUND: 404,
  REQUEST_INVALID: 422,
  REQUEST_TAMPERED: 422,
  REQUEST_EXPIRED: 422,
  REQUEST_MISMATCH: 409,
  SIGNATURE_INVALID: 422,
  SIGNATURE_SALT: 422,
  SIGNATURE_KEY_NOT_REQUIRED: 422,
  SIGNATURE_DUPLICATE: 409,
  RECORD_INVALID: 422,
  RECORD_TAMPERED: 422,
} as const satisfies Record<ErrorCode, number>;

export function isAppError(e: unknown, code?: ErrorCode): e is AppError {
  return e instanceof AppError && (code === undefined || e.code === code);
}

// ---------------------------------------------------------------------------------------------
// The server's one error handler (server/app.ts installs it).

interface FastifyLikeError {
  code?: unknown;
  statusCode?: unknown;
  validation?: { keyword?: string; instancePath?: string; schemaPath?: string; message?: string; params?: Record<string, unknown> }[];
  validationContext?: string;
}

/** An error as the API replies with it: status and `{ error: { code, message, hint } }`. */
export interface ApiErrorReply {
  status: number;
  body: { error: { code: ErrorCode; message: string; hint: string } };
}

function reply(code: ErrorCode, message: string, hint: string): ApiErrorReply {
  return { status: STATUS[code], body: { error: { code, message, hint } } };
}

/**
 * Ajv's first useful error as one sentence naming the field (`body.keyType must be one of …`).
 * For a `oneOf` keyed by `kind`, the branch whose `kind` matched is the one reported.
 */
export function validationMessage(e: FastifyLikeError): string {
  const context = e.validationContext ?? 'body';
  let errors = e.validation ?? [];
  const branchOf = (v: { schemaPath?: string }): string | undefined => /^#\/oneOf\/(\d+)\//.exec(v.schemaPath ?? '')?.[1];
  const kindMismatch = new Set(errors.filter((v) => v.instancePath === '/kind' && v.keyword === 'const').map(branchOf));
  const matching = errors.filter((v) => branchOf(v) !== undefined && !kindMismatch.has(branchOf(v)));
  if (matching.length > 0) errors = matching;
  else if (kindMismatch.size > 0) {
    return `${context}.kind must be one of the accepted target kinds`;
  }
  const first = errors.find((v) => v.keyword !== 'oneOf') ?? errors[0];
  if (!first) return `${context} is not valid`;
  const path = (first.instancePath ?? '').split('/').filter(Boolean).join('.');
  const field = path === '' ? context : `${context}.${path}`;
  const p = first.params ?? {};
  const clip = (s: unknown): string => String(s).slice(0, 64);
  switch (first.keyword) {
    case 'required':
      return `${field}.${clip(p['missingProperty'])} is required`;
    case 'additionalProperties':
      return `${field} has an unknown field "${clip(p['additionalProperty'])}"`;
    case 'enum':
      return `${field} must be one of ${Array.isArray(p['allowedValues']) ? p['allowedValues'].map(clip).join(', ') : 'the allowed values'}`;
    default:
      return `${field} ${first.message ?? 'is not valid'}`;
  }
}

/** Maps any error to the reply the API sends; `internal` says whether its cause must be logged. */
export function toApiError(error: unknown, ctx: { bodyLimit?: number; bodyType?: string } = {}): ApiErrorReply & { internal: boolean } {
  if (error instanceof AppError) {
    return { ...reply(error.code, error.message, error.hint), internal: STATUS[error.code] >= 500 };
  }
  const e = (error ?? {}) as FastifyLikeError;
  if (Array.isArray(e.validation)) {
    return { ...reply('BAD_REQUEST', validationMessage(e), 'Fix the named field and send the request again (see docs/api.md).'), internal: false };
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': {
      const limit = ctx.bodyLimit !== undefined ? ` (${ctx.bodyLimit} bytes)` : '';
      if (ctx.bodyType === 'gzip') {
        return { ...reply('ARCHIVE_TOO_LARGE', `The uploaded key archive is larger than the limit${limit}.`, 'Choose the offline key archive (.tgz) fioctl wrote; it holds a few small key files.'), internal: false };
      }
      return { ...reply('BODY_TOO_LARGE', `The request body is larger than the limit${limit}.`, 'Send a smaller body; a root.json is at most 1 MiB.'), internal: false };
    }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { ...reply('UNSUPPORTED_MEDIA_TYPE', 'The request body has a content type this route does not accept.', 'Send JSON with Content-Type: application/json (the key archive as application/gzip).'), internal: false };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { ...reply('BAD_REQUEST', 'The request body is empty.', 'Send a JSON object; {} when the step takes no arguments.'), internal: false };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { ...reply('JSON_INVALID', 'The request body is not valid JSON.', 'Send a JSON object with Content-Type: application/json.'), internal: false };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { ...reply('BAD_REQUEST', 'The request body does not match its Content-Length.', 'Send the request again.'), internal: false };
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    const code = typeof e.code === 'string' && /^FST_[A-Z_]+$/.test(e.code) ? ` (${e.code})` : '';
    return { ...reply('BAD_REQUEST', `The request was refused${code}.`, 'Check the request against docs/api.md.'), internal: false };
  }
  // Unexpected: details stay in the log, never in the reply.
  return { ...reply('INTERNAL', 'An unexpected error stopped this request.', 'Nothing was published by this request. Try again; if it repeats, report it with the server log.'), internal: true };
}

/** AppError → its code and status; validation → 400 naming the field; too large → 413; 5xx details hidden. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error, request, res) => {
    const config = (request.routeOptions.config ?? {}) as { bodyType?: string };
    const out = toApiError(error, { bodyLimit: request.routeOptions.bodyLimit, ...(config.bodyType !== undefined ? { bodyType: config.bodyType } : {}) });
    if (out.internal) request.log.error({ err: error, code: out.body.error.code }, 'request failed');
    else request.log.info({ code: out.body.error.code }, 'request refused');
    return res.code(out.status).send(out.body);
  });
}
