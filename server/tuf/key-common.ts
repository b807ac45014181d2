/**
 * What the key modules share: the fixed DER prefixes, the RSA-PSS salt length, and the two errors
 * a key can raise (KEY_TYPE_UNSUPPORTED, KEY_INVALID). Pure: no fs, no network.
 */
import { AppError } from '../errors.js';

// DER prefixes (fixed-length structures, so a prefix plus the raw key is the whole encoding).
/** SubjectPublicKeyInfo of an Ed25519 key, followed by the 32-byte key (RFC 8410). */
export const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/** PKCS#8 PrivateKeyInfo of an Ed25519 key, followed by the 32-byte seed (RFC 8410). */
export const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** SubjectPublicKeyInfo of a P-256 key, uncompressed point (65 bytes) follows. */
export const P256_SPKI_PREFIX_UNCOMPRESSED = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
/** SubjectPublicKeyInfo of a P-256 key, compressed point (33 bytes) follows. */
export const P256_SPKI_PREFIX_COMPRESSED = Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex');

/** RSA-PSS salt length we sign with (the Foundries server accepts only this; every TUF client accepts it). */
export const RSA_PSS_SALT_LENGTH = 32;

export const HEX_RE = /^[0-9a-fA-F]*$/;

export function unsupported(what: string): AppError {
  return new AppError(
    'KEY_TYPE_UNSUPPORTED',
    `${what} is not supported`,
    'tuf-rotate handles Ed25519, RSA (RSASSA-PSS SHA-256) and ECDSA P-256 (SHA-256) keys only.',
  );
}

export function invalid(message: string, hint = 'Check that the key was copied completely and unchanged.'): AppError {
  return new AppError('KEY_INVALID', message, hint);
}

