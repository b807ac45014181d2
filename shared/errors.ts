/**
 * Every error the tool reports carries one of these codes (a closed union, so the UI and tests can
 * branch on it) plus a message saying what is wrong and a hint saying what to do.
 * No node:*, no DOM: shared by server and web.
 */
export const ERROR_CODES = [
  // usage and generic input
  'BAD_USAGE',
  'BAD_REQUEST',
  'NOT_FOUND',
  'FILE_NOT_FOUND',
  'FILE_EXISTS',
  'FILE_WRITE_FAILED',
  'INTERNAL',
  // JSON and root metadata
  'JSON_INVALID',
  'JSON_TOO_LARGE',
  'ROOT_INVALID',
  'ROOT_DIALECT_UNKNOWN',
  'ROOT_FIELD_INVALID',
  'ROOT_NOT_CANONICALIZABLE',
  'ROOT_EXPIRED',
  'ROOT_TOO_LARGE',
  // keys
  'KEY_INVALID',
  'KEY_TYPE_UNSUPPORTED',
  'KEY_MISMATCH',
  'KEY_NOT_IN_ROOT',
  // hardware keys (PKCS#11)
  'PKCS11_UNAVAILABLE',
  'PKCS11_URI_INVALID',
  'PKCS11_TOKEN_NOT_FOUND',
  'PKCS11_KEY_NOT_FOUND',
  'PKCS11_KEY_EXISTS',
  'PKCS11_PIN_REQUIRED',
  'PKCS11_PIN_INCORRECT',
  'PKCS11_PIN_LOCKED',
  'PKCS11_FAILED',
  'BACKUP_ACK_REQUIRED',
  // archive
  'ARCHIVE_INVALID',
  'ARCHIVE_TOO_LARGE',
  'ARCHIVE_TOO_MANY_ENTRIES',
  'ARCHIVE_UNSAFE_ENTRY',
  'ARCHIVE_NO_ROOT_KEY',
  'ARCHIVE_PAIR_INCOMPLETE',
  'ARCHIVE_PAIR_MISMATCH',
  'ARCHIVE_TWO_ACTIVE_KEYS',
  'ARCHIVE_TMP_EXISTS',
  'ARCHIVE_READBACK_FAILED',
  // rotation and verification
  'ROTATION_REFUSED',
  'ROTATION_LOCKOUT',
  'CHANGE_REFUSED',
  'SIGNATURES_NEEDED',
  'SIGNING_FAILED',
  'VERIFY_FAILED',
  'CHAIN_BROKEN',
  // targets and publishing
  'TARGET_UNREACHABLE',
  'TARGET_AUTH_FAILED',
  'TARGET_CONFLICT',
  'TARGET_REFUSED',
  'TARGET_PARTIAL_APPLY',
  'TARGET_NOT_CONFIGURED',
  'REPO_INVALID',
  'PUBLISH_BEFORE_SAVE',
  'PUBLISH_FAILED',
  // server and session
  'UNAUTHORIZED',
  'FORBIDDEN_HOST',
  'FORBIDDEN_ORIGIN',
  'UNSUPPORTED_MEDIA_TYPE',
  'BODY_TOO_LARGE',
  'SESSION_STATE',
  'WORK_LOCKED',
  'JOB_NOT_FOUND',
  // signing requests, signatures and the ceremony record (server/requests/)
  'REQUEST_INVALID',
  'REQUEST_TAMPERED',
  'REQUEST_EXPIRED',
  'REQUEST_MISMATCH',
  'SIGNATURE_INVALID',
  'SIGNATURE_SALT',
  'SIGNATURE_KEY_NOT_REQUIRED',
  'SIGNATURE_DUPLICATE',
  'RECORD_INVALID',
  'RECORD_TAMPERED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The JSON body of every error reply: `{ "error": ApiError }`. */
export interface ApiError {
  code: ErrorCode;
  message: string;
  hint: string;
}
