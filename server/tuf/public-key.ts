/**
 * Public keys: decoding them from root metadata, key types and schemes, key IDs, new key objects,
 * and raw signature verification (OpenSSL through node:crypto). Pure: no fs, no network.
 */
import { createHash, createPublicKey, constants as cryptoConstants, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { AppError } from '../errors.js';
import { canonicalSpec } from './canonical-json.js';
import type { JsonObject } from './json.js';
import type { Dialect, KeyAlgorithm, PublicKeyInfo, RootKey } from './model.js';
import { ED25519_SPKI_PREFIX, HEX_RE, invalid, P256_SPKI_PREFIX_COMPRESSED, P256_SPKI_PREFIX_UNCOMPRESSED, unsupported } from './key-common.js';
import { pemEncode, singlePemBlock } from './pem.js';

// ---------------------------------------------------------------------------------------------
// Key types and schemes

/** The algorithm a root's `keytype` denotes (case-insensitive), or undefined when we cannot use it. */
export function algorithmOfKeytype(keytype: string): KeyAlgorithm | undefined {
  switch (keytype.toLowerCase()) {
    case 'ed25519':
      return 'ed25519';
    case 'rsa':
      return 'rsa';
    case 'ecdsa':
    case 'ecdsa-sha2-nistp256':
      return 'ecdsa';
    default:
      return undefined;
  }
}

/** The spec-dialect `scheme` for each algorithm (the only scheme we verify with). */
export function schemeOf(alg: KeyAlgorithm): string {
  switch (alg) {
    case 'ed25519':
      return 'ed25519';
    case 'rsa':
      return 'rsassa-pss-sha256';
    case 'ecdsa':
      return 'ecdsa-sha2-nistp256';
  }
}


// ---------------------------------------------------------------------------------------------
// Public keys

/** Checks a public KeyObject against the algorithm and builds its PublicKeyInfo (SPKI normalised). */
export function infoOfPublicKeyObject(obj: KeyObject, algorithm: KeyAlgorithm, what: string): PublicKeyInfo {
  const type = obj.asymmetricKeyType;
  let bits: number;
  switch (algorithm) {
    case 'ed25519':
      if (type !== 'ed25519') throw invalid(`${what} is not an Ed25519 key`);
      bits = 256;
      break;
    case 'rsa': {
      if (type === 'rsa-pss') throw unsupported(`${what}: an RSA key restricted to RSASSA-PSS (id-RSASSA-PSS)`);
      if (type !== 'rsa') throw invalid(`${what} is not an RSA key`);
      bits = obj.asymmetricKeyDetails?.modulusLength ?? 0;
      break;
    }
    case 'ecdsa': {
      if (type !== 'ec') throw invalid(`${what} is not an ECDSA key`);
      const curve = obj.asymmetricKeyDetails?.namedCurve;
      if (curve !== 'prime256v1') throw unsupported(`${what}: ECDSA curve ${curve ?? 'unknown'} (only P-256)`);
      bits = 256;
      break;
    }
  }
  const spki = obj.export({ format: 'der', type: 'spki' });
  return { algorithm, spki: new Uint8Array(spki), bits };
}

function publicKeyFromDer(der: Buffer, type: 'spki' | 'pkcs1', algorithm: KeyAlgorithm, what: string): PublicKeyInfo {
  let obj: KeyObject;
  try {
    obj = createPublicKey({ key: der, format: 'der', type });
  } catch (e) {
    throw new AppError('KEY_INVALID', `${what} cannot be decoded`, 'Check that the key was copied completely and unchanged.', {
      cause: e,
    });
  }
  return infoOfPublicKeyObject(obj, algorithm, what);
}

/** A public key given as DER SubjectPublicKeyInfo (a hardware token's key, for one), checked against the algorithm. */
export function publicKeyFromSpki(der: Uint8Array, algorithm: KeyAlgorithm, what: string): PublicKeyInfo {
  return publicKeyFromDer(Buffer.from(der), 'spki', algorithm, what);
}

function publicKeyFromPem(text: string, algorithm: KeyAlgorithm, what: string): PublicKeyInfo {
  const block = singlePemBlock(text, what);
  if (block.label === 'PUBLIC KEY') return publicKeyFromDer(block.der, 'spki', algorithm, what);
  if (block.label === 'RSA PUBLIC KEY' && algorithm === 'rsa') return publicKeyFromDer(block.der, 'pkcs1', algorithm, what);
  throw invalid(`${what} is a PEM "${block.label}" block, not a public key`, 'A public key is a "BEGIN PUBLIC KEY" PEM block.');
}

function ed25519FromHex(hex: string, what: string): PublicKeyInfo {
  if (hex.length !== 64 || !HEX_RE.test(hex)) {
    throw invalid(`${what} is not 64 hex characters`, 'An Ed25519 public key is the 32-byte key in hex.');
  }
  const der = Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(hex, 'hex')]);
  return publicKeyFromDer(der, 'spki', 'ed25519', what);
}

function ecdsaFromHex(hex: string, what: string): PublicKeyInfo {
  if (!HEX_RE.test(hex)) throw invalid(`${what} is neither PEM nor hex`);
  const point = Buffer.from(hex, 'hex');
  let prefix: Buffer;
  if (point.length === 65 && point[0] === 0x04) prefix = P256_SPKI_PREFIX_UNCOMPRESSED;
  else if (point.length === 33 && (point[0] === 0x02 || point[0] === 0x03)) prefix = P256_SPKI_PREFIX_COMPRESSED;
  else throw invalid(`${what} is not a P-256 point in hex`);
  return publicKeyFromDer(Buffer.concat([prefix, point]), 'spki', 'ecdsa', what);
}

/**
 * Decodes `keyval.public` of a root key: Ed25519 hex; RSA SPKI PEM (or a PKCS#1 `RSA PUBLIC KEY`);
 * ECDSA P-256 SPKI PEM (or the hex point older securesystemslib roots hold).
 */
export function publicKeyOf(key: RootKey): PublicKeyInfo {
  const algorithm = algorithmOfKeytype(key.keytype);
  if (algorithm === undefined) throw unsupported(`key type "${key.keytype}"`);
  // A scheme we would not verify with (rsa-pkcs1v15-sha256, ecdsa-sha2-nistp384, …) is a different
  // signature algorithm, not just a label.
  if (key.scheme !== undefined && key.scheme !== schemeOf(algorithm)) {
    throw unsupported(`signature scheme "${key.scheme}" for key type "${key.keytype}"`);
  }
  const what = `the ${key.keytype} public key`;
  const text = key.public;
  switch (algorithm) {
    case 'ed25519':
      return ed25519FromHex(text, what);
    case 'rsa':
      return publicKeyFromPem(text, 'rsa', what);
    case 'ecdsa':
      return text.includes('-----BEGIN') ? publicKeyFromPem(text, 'ecdsa', what) : ecdsaFromHex(text.trim(), what);
  }
}

/** Two keys are the same key exactly when their SPKI bytes are equal. */
export function samePublicKey(a: PublicKeyInfo, b: PublicKeyInfo): boolean {
  return Buffer.from(a.spki).equals(Buffer.from(b.spki));
}

/** `keyval.public` as we write it: Ed25519 lowercase hex; RSA and ECDSA SPKI PEM (LF, trailing newline). */
export function publicKeyString(pub: PublicKeyInfo): string {
  if (pub.algorithm === 'ed25519') return Buffer.from(pub.spki.subarray(ED25519_SPKI_PREFIX.length)).toString('hex');
  return pemEncode('PUBLIC KEY', pub.spki);
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A metadata file's digest for snapshot/timestamp `hashes` (lowercase hex). */
export function fileDigestHex(alg: 'sha256' | 'sha512', bytes: Uint8Array | string): string {
  return createHash(alg).update(bytes).digest('hex');
}

/** Foundries (ota-tuf, fioctl ≥ v0.30) key ID: sha256 of the SPKI DER, lowercase hex. */
export function keyIdFoundries(pub: PublicKeyInfo): string {
  return sha256Hex(pub.spki);
}

/** TUF specification key ID: sha256 of the OLPC canonical JSON of the key object as written. */
export function keyIdSpec(keyJson: JsonObject): string {
  return sha256Hex(canonicalSpec(keyJson));
}

/** The key object written into a root for a new key. */
export function newRootKeyJson(dialect: Dialect, pub: PublicKeyInfo): JsonObject {
  const publicText = publicKeyString(pub);
  if (dialect === 'foundries') {
    // The device rejects a whole root holding any other key type (tuf-dialects.md, Keys).
    if (pub.algorithm === 'ecdsa') throw unsupported('an ECDSA key in a Foundries root');
    return { keytype: pub.algorithm === 'ed25519' ? 'ED25519' : 'RSA', keyval: { public: publicText } };
  }
  return { keytype: pub.algorithm, scheme: schemeOf(pub.algorithm), keyval: { public: publicText } };
}

/** The key ID a new key gets in a root of this dialect. */
export function keyIdFor(dialect: Dialect, pub: PublicKeyInfo): string {
  return dialect === 'foundries' ? keyIdFoundries(pub) : keyIdSpec(newRootKeyJson('spec', pub));
}

export interface VerifyOptions {
  /** RSA-PSS salt length accepted: 'auto' (any, as the device and TUF clients) or exactly this many bytes. */
  rsaSaltLength: 'auto' | number;
}

/**
 * KeyObjects per PublicKeyInfo: importing a P-256 key costs twice its verification, and a chain of
 * roots verifies with the same few keys (verify.ts keeps their PublicKeyInfo objects). Keyed by the
 * spki array too, so a PublicKeyInfo whose bytes were replaced is imported afresh.
 */
const publicKeyObjects = new WeakMap<PublicKeyInfo, { spki: Uint8Array; key: KeyObject }>();

function publicKeyObjectOf(pub: PublicKeyInfo): KeyObject {
  const hit = publicKeyObjects.get(pub);
  if (hit !== undefined && hit.spki === pub.spki) return hit.key;
  const key = createPublicKey({ key: Buffer.from(pub.spki), format: 'der', type: 'spki' });
  publicKeyObjects.set(pub, { spki: pub.spki, key });
  return key;
}

/** Verifies a raw signature; false (never a throw) for a malformed signature or key. */
export function verifyRaw(pub: PublicKeyInfo, data: Uint8Array, sig: Uint8Array, opts: VerifyOptions): boolean {
  try {
    const key = publicKeyObjectOf(pub);
    switch (pub.algorithm) {
      case 'ed25519':
        if (key.asymmetricKeyType !== 'ed25519' || sig.length !== 64) return false;
        return cryptoVerify(null, data, key, sig);
      case 'rsa':
        if (key.asymmetricKeyType !== 'rsa') return false;
        return cryptoVerify(
          'sha256',
          data,
          {
            key,
            padding: cryptoConstants.RSA_PKCS1_PSS_PADDING,
            saltLength: opts.rsaSaltLength === 'auto' ? cryptoConstants.RSA_PSS_SALTLEN_AUTO : opts.rsaSaltLength,
          },
          sig,
        );
      case 'ecdsa':
        if (key.asymmetricKeyType !== 'ec') return false;
        return cryptoVerify('sha256', data, { key, dsaEncoding: 'der' }, sig);
    }
  } catch {
    return false;
  }
}
