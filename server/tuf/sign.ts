/**
 * Signatures over root metadata in both dialects. The cryptography itself lives in keys.ts (the
 * only importer of node:crypto); this module picks the bytes, the encodings and the shapes.
 */
import { AppError } from '../errors.js';
import { canonicalBytes } from './canonical-json.js';
import type { JsonObject } from './json.js';
import { RSA_PSS_SALT_LENGTH } from './key-common.js';
import { type PrivateKey } from './private-key.js';
import { schemeOf, verifyRaw } from './public-key.js';
import type { Dialect, KeyAlgorithm, PublicKeyInfo, RootSignature, Signer } from './model.js';

/** A Signer backed by a private key in memory (from an archive, a PEM file, or freshly generated). */
export class LocalSigner implements Signer {
  readonly publicKey: PublicKeyInfo;
  readonly #key: PrivateKey;

  constructor(priv: PrivateKey) {
    this.#key = priv;
    this.publicKey = priv.publicKey;
  }

  /** Ed25519 pure; RSA-PSS SHA-256, MGF1-SHA-256, salt 32; ECDSA P-256 SHA-256, DER. */
  sign(data: Uint8Array): Promise<Uint8Array> {
    return this.#key.sign(data);
  }

  toJSON(): string {
    return `[signer ${this.publicKey.algorithm}]`;
  }
}

/** The Foundries `method` of a signature by a key of this algorithm: the same names as the spec's schemes. */
export function signatureMethod(alg: KeyAlgorithm): string {
  return schemeOf(alg);
}

/**
 * Verifies a raw signature as the device and TUF clients do: RSA-PSS SHA-256 MGF1-SHA-256 with any
 * salt length, Ed25519, ECDSA P-256 SHA-256 DER. False (never a throw) on a malformed signature.
 */
export function verifySignature(pub: PublicKeyInfo, data: Uint8Array, sig: Uint8Array): boolean {
  return verifyRaw(pub, data, sig, { rsaSaltLength: 'auto' });
}

/** As verifySignature, but as strict as the Foundries API: RSA-PSS only with salt length 32. */
export function verifySignatureFoundriesServer(pub: PublicKeyInfo, data: Uint8Array, sig: Uint8Array): boolean {
  return verifyRaw(pub, data, sig, { rsaSaltLength: RSA_PSS_SALT_LENGTH });
}

// Standard base64 with padding (what Go's StdEncoding and ota-tuf write).
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HEX_RE = /^(?:[0-9a-fA-F]{2})+$/;

/** The raw bytes of a signature entry: base64 (Foundries) or hex (spec); undefined if not decodable or empty. */
export function decodeSignature(dialect: Dialect, sig: RootSignature): Uint8Array | undefined {
  const text = sig.sig;
  if (text === '') return undefined;
  if (dialect === 'foundries') {
    return BASE64_RE.test(text) ? new Uint8Array(Buffer.from(text, 'base64')) : undefined;
  }
  return HEX_RE.test(text) ? new Uint8Array(Buffer.from(text, 'hex')) : undefined;
}

/**
 * Signs `signed` (canonical bytes of the dialect) with each signer, in the order given, and returns
 * the signature objects: Foundries `{keyid, method, sig: base64}`, spec `{keyid, sig: hex}`.
 * Each signature is verified before it is returned, so a faulty signer fails here, not on the fleet.
 */
export async function signRoot(
  dialect: Dialect,
  signed: JsonObject,
  signers: { keyid: string; signer: Signer }[],
): Promise<JsonObject[]> {
  const seen = new Set<string>();
  for (const { keyid, signer } of signers) {
    // A duplicate key ID makes the device reject the whole root; tuf-js and python-tuf refuse it too.
    if (seen.has(keyid)) {
      throw new AppError('SIGNING_FAILED', `key ${keyid} is listed twice among the signers`, 'Sign once per key ID.');
    }
    seen.add(keyid);
    // The device rejects a root with any signature method other than ed25519 / rsassa-pss-sha256.
    if (dialect === 'foundries' && signer.publicKey.algorithm === 'ecdsa') {
      throw new AppError(
        'KEY_TYPE_UNSUPPORTED',
        `key ${keyid} is an ECDSA key, which Foundries devices do not accept`,
        'Use an Ed25519 (recommended) or RSA key for a Foundries root.',
      );
    }
  }
  const bytes = canonicalBytes(dialect, signed);
  const out: JsonObject[] = [];
  for (const { keyid, signer } of signers) {
    let sig: Uint8Array;
    try {
      sig = await signer.sign(bytes);
    } catch (e) {
      if (e instanceof AppError) throw e;
      throw new AppError('SIGNING_FAILED', `signing with key ${keyid} failed`, 'Check the key and try again.', { cause: e });
    }
    if (!verifySignature(signer.publicKey, bytes, sig)) {
      throw new AppError(
        'SIGNING_FAILED',
        `the signature made with key ${keyid} does not verify`,
        'The signer is faulty or does not hold the key it claims; nothing was written.',
      );
    }
    const buf = Buffer.from(sig);
    out.push(
      dialect === 'foundries'
        ? { keyid, method: signatureMethod(signer.publicKey.algorithm), sig: buf.toString('base64') }
        : { keyid, sig: buf.toString('hex') },
    );
  }
  return out;
}
