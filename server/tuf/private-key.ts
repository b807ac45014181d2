/**
 * Private keys: the PrivateKey holder, raw signing, generation, PEM private keys, and the self-test
 * every loaded key passes. Pure: no fs, no network.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, constants as cryptoConstants, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import { AppError } from '../errors.js';
import type { KeyAlgorithm, PublicKeyInfo } from './model.js';
import { invalid, RSA_PSS_SALT_LENGTH, unsupported } from './key-common.js';
import { pemBlocks, pemEncode } from './pem.js';
import { infoOfPublicKeyObject, samePublicKey, verifyRaw } from './public-key.js';

// ---------------------------------------------------------------------------------------------
// Raw signatures (sign.ts builds on these)

/** Raw signature over data: Ed25519 pure; RSA-PSS SHA-256 MGF1-SHA-256 salt 32; ECDSA SHA-256 DER. */
function signWithKeyObject(key: KeyObject, algorithm: KeyAlgorithm, data: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, sig: Buffer): void => {
      if (err) reject(err);
      else resolve(new Uint8Array(sig));
    };
    switch (algorithm) {
      case 'ed25519':
        cryptoSign(null, data, key, done);
        break;
      case 'rsa':
        cryptoSign(
          'sha256',
          data,
          { key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: RSA_PSS_SALT_LENGTH },
          done,
        );
        break;
      case 'ecdsa':
        cryptoSign('sha256', data, { key, dsaEncoding: 'der' }, done);
        break;
    }
  });
}

function signSyncWithKeyObject(key: KeyObject, algorithm: KeyAlgorithm, data: Uint8Array): Buffer {
  switch (algorithm) {
    case 'ed25519':
      return cryptoSign(null, data, key);
    case 'rsa':
      return cryptoSign('sha256', data, {
        key,
        padding: cryptoConstants.RSA_PKCS1_PSS_PADDING,
        saltLength: RSA_PSS_SALT_LENGTH,
      });
    case 'ecdsa':
      return cryptoSign('sha256', data, { key, dsaEncoding: 'der' });
  }
}
// ---------------------------------------------------------------------------------------------
// Private keys

/** Reads the private field of a PrivateKey; set by the class's static block, not exported. */
let keyObjectOf: (p: PrivateKey) => KeyObject;

/**
 * A private key held as a node:crypto KeyObject in a private field: it never shows in
 * JSON.stringify, util.inspect, String() or Object.keys, and only leaves through archivePairFiles.
 */
export class PrivateKey {
  readonly #key: KeyObject;
  readonly algorithm: KeyAlgorithm;
  readonly publicKey: PublicKeyInfo;

  constructor(key: KeyObject) {
    if (key.type !== 'private') throw new AppError('INTERNAL', 'PrivateKey needs a private key object', 'Report this as a bug.');
    const algorithm = algorithmOfKeyObject(key);
    this.#key = key;
    this.algorithm = algorithm;
    this.publicKey = infoOfPublicKeyObject(createPublicKey(key), algorithm, 'the private key');
  }

  /** Raw signature over data (see signWithKeyObject). Runs on libuv's thread pool. */
  sign(data: Uint8Array): Promise<Uint8Array> {
    return signWithKeyObject(this.#key, this.algorithm, data);
  }

  /**
   * The private key as PKCS#8 PEM (LF, 64-character lines), for writing a key file the user asked
   * for. Only an explicit call reveals the key; nothing prints or serialises it implicitly.
   */
  toPem(): string {
    return pemEncode('PRIVATE KEY', this.#key.export({ format: 'der', type: 'pkcs8' }));
  }

  static {
    // Module-private access to the key object (archivePairFiles, the self-test); no public getter.
    keyObjectOf = (p) => p.#key;
  }

  toJSON(): string {
    return `[private key ${this.algorithm}]`;
  }

  toString(): string {
    return this.toJSON();
  }

  [inspect.custom](): string {
    return this.toJSON();
  }
}

/**
 * Throws KEY_INVALID unless the key is intact: RSA components consistent, and a probe signature
 * verifies under the key's own public key.
 */
function selfTest(priv: PrivateKey): void {
  if (priv.algorithm === 'rsa' && !rsaComponentsConsistent(keyObjectOf(priv))) {
    throw invalid('the RSA private key is damaged: its components do not fit together');
  }
  const probe = Buffer.from('tuf-rotate key self-test');
  let ok: boolean;
  try {
    const sig = signSyncWithKeyObject(keyObjectOf(priv), priv.algorithm, probe);
    ok = verifyRaw(priv.publicKey, probe, sig, { rsaSaltLength: 'auto' });
  } catch {
    ok = false;
  }
  if (!ok) throw invalid(`the ${priv.algorithm} private key is damaged: it does not sign for its own public key`);
}

/**
 * The checks Go's rsa.PrivateKey.Validate makes (so fioctl could read the key back): n = p·q,
 * d·e ≡ 1 mod (p−1) and (q−1), and the CRT values. OpenSSL signs with the CRT values and falls
 * back to d when they are wrong, so a sign/verify probe alone misses a damaged d, p or q.
 */
function rsaComponentsConsistent(key: KeyObject): boolean {
  const jwk = key.export({ format: 'jwk' });
  const big = (v: string | undefined): bigint => {
    const hex = v === undefined ? '' : Buffer.from(v, 'base64url').toString('hex');
    return hex === '' ? 0n : BigInt(`0x${hex}`);
  };
  const [n, e, d, p, q, dp, dq, qi] = [jwk.n, jwk.e, jwk.d, jwk.p, jwk.q, jwk.dp, jwk.dq, jwk.qi].map(big);
  if (n === undefined || e === undefined || d === undefined || p === undefined || q === undefined) return false;
  if (dp === undefined || dq === undefined || qi === undefined) return false;
  if (p < 2n || q < 2n || e < 3n || d < 1n) return false;
  const de = d * e;
  return (
    p * q === n &&
    de % (p - 1n) === 1n &&
    de % (q - 1n) === 1n &&
    dp === d % (p - 1n) &&
    dq === d % (q - 1n) &&
    (qi * q) % p === 1n
  );
}

export function exportPrivateDer(priv: PrivateKey, type: 'pkcs8' | 'pkcs1' | 'sec1'): Buffer {
  return keyObjectOf(priv).export({ format: 'der', type });
}

function algorithmOfKeyObject(key: KeyObject): KeyAlgorithm {
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return 'ed25519';
    case 'rsa':
      return 'rsa';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return 'ecdsa';
      throw unsupported(`an ECDSA key on curve ${curve ?? 'unknown'} (only P-256)`);
    }
    default:
      throw unsupported(`a ${key.asymmetricKeyType ?? 'unknown'} private key`);
  }
}

/** Does this private key belong to that public key? */
export function privateKeyMatches(priv: PrivateKey, pub: PublicKeyInfo): boolean {
  return samePublicKey(priv.publicKey, pub);
}

/** A new key: RSA 4096 (e = 65537), Ed25519, or ECDSA P-256. */
export function generateKey(algorithm: KeyAlgorithm): Promise<PrivateKey> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, _pub: KeyObject, priv: KeyObject): void => {
      if (err) {
        reject(new AppError('INTERNAL', `generating a ${algorithm} key failed`, 'Try again; report it if it persists.', { cause: err }));
      } else {
        resolve(new PrivateKey(priv));
      }
    };
    switch (algorithm) {
      case 'rsa':
        generateKeyPair('rsa', { modulusLength: 4096, publicExponent: 0x10001 }, done);
        break;
      case 'ed25519':
        generateKeyPair('ed25519', {}, done);
        break;
      case 'ecdsa':
        generateKeyPair('ec', { namedCurve: 'P-256' }, done);
        break;
    }
  });
}

export function privateFromDer(der: Buffer, type: 'pkcs8' | 'pkcs1' | 'sec1', what: string): PrivateKey {
  let obj: KeyObject;
  try {
    obj = createPrivateKey({ key: der, format: 'der', type });
  } catch (e) {
    throw new AppError('KEY_INVALID', `${what} cannot be decoded`, 'Check that the key was copied completely and unchanged.', {
      cause: e,
    });
  }
  const priv = new PrivateKey(obj);
  selfTest(priv);
  return priv;
}

/** A private key from PEM: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`). */
export function parsePemPrivateKey(pem: string): PrivateKey {
  const blocks = pemBlocks(pem).filter((b) => b.label.endsWith('PRIVATE KEY'));
  const [block] = blocks;
  if (block === undefined) {
    throw invalid('no PEM private key found', 'Give a PEM file holding one PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key block.');
  }
  if (blocks.length > 1) throw invalid('the PEM text holds more than one private key', 'Give one key per file.');
  const encrypted = block.label === 'ENCRYPTED PRIVATE KEY' || block.headers.some((h) => /^Proc-Type:.*ENCRYPTED/i.test(h));
  if (encrypted) {
    throw invalid(
      'the PEM private key is encrypted',
      'Decrypt it first (for example: openssl pkey -in key.pem -out plain.pem) and keep the plain copy offline.',
    );
  }
  switch (block.label) {
    case 'PRIVATE KEY':
      return privateFromDer(block.der, 'pkcs8', 'the PKCS#8 private key');
    case 'RSA PRIVATE KEY':
      return privateFromDer(block.der, 'pkcs1', 'the PKCS#1 RSA private key');
    case 'EC PRIVATE KEY':
      return privateFromDer(block.der, 'sec1', 'the SEC1 EC private key');
    default:
      throw unsupported(`a PEM "${block.label}" block`);
  }
}
