/**
 * Keys: decoding public keys from root metadata, key IDs, private keys from archives and PEM files,
 * key generation, and the raw sign/verify primitives. The only module of `server/tuf/` that imports
 * node:crypto; everything goes through OpenSSL (node-forge is too slow for RSA).
 * Pure: no fs, no network.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  constants as cryptoConstants,
  sign as cryptoSign,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import { inspect } from 'node:util';
import { AppError } from '../errors.js';
import { canonicalSpec } from './canonical-json.js';
import type { JsonObject } from './json.js';
import type { Dialect, KeyAlgorithm, PublicKeyInfo, RootKey } from './model.js';

// DER prefixes (fixed-length structures, so a prefix plus the raw key is the whole encoding).
/** SubjectPublicKeyInfo of an Ed25519 key, followed by the 32-byte key (RFC 8410). */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/** PKCS#8 PrivateKeyInfo of an Ed25519 key, followed by the 32-byte seed (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** SubjectPublicKeyInfo of a P-256 key, uncompressed point (65 bytes) follows. */
const P256_SPKI_PREFIX_UNCOMPRESSED = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
/** SubjectPublicKeyInfo of a P-256 key, compressed point (33 bytes) follows. */
const P256_SPKI_PREFIX_COMPRESSED = Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex');

/** RSA-PSS salt length we sign with (the Foundries server accepts only this; every TUF client accepts it). */
export const RSA_PSS_SALT_LENGTH = 32;

const HEX_RE = /^[0-9a-fA-F]*$/;

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

function unsupported(what: string): AppError {
  return new AppError(
    'KEY_TYPE_UNSUPPORTED',
    `${what} is not supported`,
    'tuf-rotate handles Ed25519, RSA (RSASSA-PSS SHA-256) and ECDSA P-256 (SHA-256) keys only.',
  );
}

function invalid(message: string, hint = 'Check that the key was copied completely and unchanged.'): AppError {
  return new AppError('KEY_INVALID', message, hint);
}

// ---------------------------------------------------------------------------------------------
// PEM

interface PemBlock {
  label: string;
  /** Header lines such as `Proc-Type: 4,ENCRYPTED` (legacy OpenSSL encryption). */
  headers: string[];
  der: Buffer;
}

const PEM_BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

/** Every PEM block in text (CRLF or LF line ends). Throws KEY_INVALID on a block with bad base64. */
function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(PEM_BLOCK_RE)) {
    const label = m[1] ?? '';
    const lines = (m[2] ?? '').split(/\r?\n/).map((l) => l.trim());
    const headers: string[] = [];
    let i = 0;
    // RFC 1421 headers (`Name: value`), then a blank line, then the base64 body.
    if (lines.some((l) => l.includes(':'))) {
      while (i < lines.length && lines[i] !== '') headers.push(lines[i++] ?? '');
    }
    const body = lines.slice(i).join('');
    if (body === '' || !/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) {
      throw invalid(`the PEM block "${label}" does not hold valid base64`);
    }
    blocks.push({ label, headers, der: Buffer.from(body, 'base64') });
  }
  return blocks;
}

/** Exactly one PEM block and nothing else but whitespace (public keys in roots). */
function singlePemBlock(text: string, what: string): PemBlock {
  const blocks = pemBlocks(text);
  const rest = text.replace(PEM_BLOCK_RE, '').trim();
  const [block] = blocks;
  if (blocks.length !== 1 || block === undefined || rest !== '') {
    throw invalid(`${what} is not a single PEM block`);
  }
  return block;
}

/** PEM as Go's pem.Encode and OpenSSL write it: LF line ends, 64-character lines, trailing newline. */
export function pemEncode(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

// ---------------------------------------------------------------------------------------------
// Public keys

/** Checks a public KeyObject against the algorithm and builds its PublicKeyInfo (SPKI normalised). */
function infoOfPublicKeyObject(obj: KeyObject, algorithm: KeyAlgorithm, what: string): PublicKeyInfo {
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

function exportPrivateDer(priv: PrivateKey, type: 'pkcs8' | 'pkcs1' | 'sec1'): Buffer {
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

function privateFromDer(der: Buffer, type: 'pkcs8' | 'pkcs1' | 'sec1', what: string): PrivateKey {
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

function ed25519FromSeed(seed: Buffer): PrivateKey {
  return privateFromDer(Buffer.concat([ED25519_PKCS8_PREFIX, seed]), 'pkcs8', 'the Ed25519 private key');
}

/**
 * A Factory archive `.sec` object `{keytype, keyval: {private}}`: RSA = PKCS#1 PEM (PKCS#8 also
 * accepted), Ed25519 = 64 hex (seed) or 128 hex (seed ‖ public, as older fioctl and garage-sign wrote).
 */
export function parseArchiveSecret(sec: JsonObject): PrivateKey {
  const keytype = sec['keytype'];
  const keyval = sec['keyval'];
  const priv = typeof keyval === 'object' && keyval !== null && !Array.isArray(keyval) ? keyval['private'] : undefined;
  if (typeof keytype !== 'string' || typeof priv !== 'string') {
    throw invalid('the .sec file is not {"keytype": …, "keyval": {"private": …}}', 'Use the .sec file fioctl or garage-sign wrote, unchanged.');
  }
  const algorithm = algorithmOfKeytype(keytype);
  if (algorithm === 'ed25519') {
    const hex = priv.trim();
    if ((hex.length !== 64 && hex.length !== 128) || !HEX_RE.test(hex)) {
      throw invalid('the Ed25519 private key is not 64 or 128 hex characters', 'Use the .sec file fioctl or garage-sign wrote, unchanged.');
    }
    const bytes = Buffer.from(hex, 'hex');
    const key = ed25519FromSeed(bytes.subarray(0, 32));
    if (bytes.length === 64) {
      const embedded = Buffer.concat([ED25519_SPKI_PREFIX, bytes.subarray(32)]);
      if (!embedded.equals(Buffer.from(key.publicKey.spki))) {
        throw new AppError(
          'KEY_MISMATCH',
          'the Ed25519 private key holds a public half that does not belong to its seed',
          'The .sec file is damaged; use an intact copy of the archive.',
        );
      }
    }
    return key;
  }
  if (algorithm === 'rsa' || algorithm === 'ecdsa') {
    // RSA: PKCS#1 (fioctl) or PKCS#8. ECDSA (standard repositories only): SEC1 or PKCS#8.
    const key = parsePemPrivateKey(priv);
    if (key.algorithm !== algorithm) throw invalid(`the .sec file says ${keytype} but holds a ${key.algorithm} key`);
    return key;
  }
  throw unsupported(`archive key type "${keytype}"`);
}

/** The `.pub`/`.sec` pair in fioctl's form: compact JSON, `keytype` then `keyval`, no trailing newline. */
export function archivePairFiles(priv: PrivateKey): { pub: Uint8Array; sec: Uint8Array } {
  let keytype: string;
  let privateText: string;
  switch (priv.algorithm) {
    case 'ed25519': {
      const pkcs8 = exportPrivateDer(priv, 'pkcs8');
      if (pkcs8.length !== 48 || !pkcs8.subarray(0, 16).equals(ED25519_PKCS8_PREFIX)) {
        throw new AppError('INTERNAL', 'unexpected Ed25519 PKCS#8 encoding', 'Report this as a bug.');
      }
      keytype = 'ED25519';
      privateText = pkcs8.subarray(16).toString('hex');
      break;
    }
    case 'rsa':
      keytype = 'RSA';
      privateText = pemEncode('RSA PRIVATE KEY', exportPrivateDer(priv, 'pkcs1'));
      break;
    case 'ecdsa':
      keytype = 'ecdsa';
      privateText = pemEncode('EC PRIVATE KEY', exportPrivateDer(priv, 'sec1'));
      break;
  }
  const pub = JSON.stringify({ keytype, keyval: { public: publicKeyString(priv.publicKey) } });
  const sec = JSON.stringify({ keytype, keyval: { private: privateText } });
  return { pub: new TextEncoder().encode(pub), sec: new TextEncoder().encode(sec) };
}

/**
 * The archive pair for a key as a root of this dialect lists it: fioctl's form for Foundries; for
 * standard repositories the `.pub` holds the key object exactly as root.json has it, and the `.sec`
 * names the same keytype.
 */
export function archivePairFilesFor(dialect: Dialect, priv: PrivateKey, keyJson: JsonObject): { pub: Uint8Array; sec: Uint8Array } {
  const files = archivePairFiles(priv);
  if (dialect === 'foundries') return files;
  const sec = JSON.parse(new TextDecoder().decode(files.sec)) as JsonObject;
  sec['keytype'] = keyJson['keytype'] ?? sec['keytype'] ?? null;
  const enc = new TextEncoder();
  return { pub: enc.encode(JSON.stringify(keyJson)), sec: enc.encode(JSON.stringify(sec)) };
}
