import type { ErrorCode } from '../shared/errors.js';

export type { ErrorCode } from '../shared/errors.js';

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
  JOB_NOT_FOUND: 404,
} as const satisfies Record<ErrorCode, number>;

export function isAppError(e: unknown, code?: ErrorCode): e is AppError {
  return e instanceof AppError && (code === undefined || e.code === code);
}
