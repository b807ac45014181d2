/**
 * Keys: decoding public keys from root metadata, key IDs, private keys from archives and PEM files,
 * key generation, and the raw sign/verify primitives. The key modules are the only ones of
 * `server/tuf/` that import node:crypto; everything goes through OpenSSL (node-forge is too slow for RSA).
 * Pure: no fs, no network.
 *
 * Split by concept: public-key.ts (public keys, key IDs, verification), private-key.ts (PrivateKey,
 * signing, generation, PEM private keys), archive-keys.ts (fioctl's .pub/.sec pair files), pem.ts,
 * key-common.ts. This module re-exports their API so importers keep one path.
 */
export { RSA_PSS_SALT_LENGTH } from './key-common.js';
export { pemEncode } from './pem.js';
export {
  algorithmOfKeytype,
  fileDigestHex,
  keyIdFor,
  keyIdFoundries,
  keyIdSpec,
  newRootKeyJson,
  publicKeyFromSpki,
  publicKeyOf,
  publicKeyString,
  samePublicKey,
  schemeOf,
  verifyRaw,
  type VerifyOptions,
} from './public-key.js';
export { generateKey, parsePemPrivateKey, PrivateKey, privateKeyMatches } from './private-key.js';
export { archivePairFiles, archivePairFilesFor, parseArchiveSecret } from './archive-keys.js';
