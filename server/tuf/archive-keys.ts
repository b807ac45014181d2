/**
 * Key archive pair files: the `.sec` objects fioctl and garage-sign write, read into a PrivateKey,
 * and the `.pub`/`.sec` pair written for a key. Pure: no fs, no network.
 */
import { AppError } from '../errors.js';
import type { JsonObject } from './json.js';
import type { Dialect } from './model.js';
import { ED25519_PKCS8_PREFIX, ED25519_SPKI_PREFIX, HEX_RE, invalid, unsupported } from './key-common.js';
import { pemEncode } from './pem.js';
import { exportPrivateDer, parsePemPrivateKey, type PrivateKey, privateFromDer } from './private-key.js';
import { algorithmOfKeytype, publicKeyString } from './public-key.js';

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
