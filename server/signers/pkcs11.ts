/**
 * A Signer whose private key lives in a PKCS#11 token (a YubiKey, a smart card, an HSM, SoftHSM2)
 * and never leaves it. Keys are named by RFC 7512 URIs. Signing and key generation use pkcs11js's
 * async calls (libuv worker threads), so the server stays responsive during a slow RSA keygen or a
 * touch-to-sign; one signer's operations are serialised on its session.
 *
 * Every signature is verified with node:crypto against the token's public key before it is
 * returned: a wrong token, a faulty module or a key that is not the one named fails here.
 */
import { constants, createHash, createPublicKey, randomBytes, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AppError } from '../errors.js';
import { publicKeyFromSpki } from '../tuf/public-key.js';
import type { KeyAlgorithm, PublicKeyInfo, Signer } from '../tuf/model.js';
import type { PinProvider } from './pin.js';
import { CK, ckrName, findObjects, findToken, keyTemplate, openModule, p11Error, resolveModulePath } from './pkcs11-module.js';
import type { Attr, FoundToken, Handle, LoadedModule, Mech } from './pkcs11-module.js';
import { formatPkcs11Uri, parsePkcs11Uri } from './pkcs11-uri.js';
import type { Pkcs11Uri } from './pkcs11-uri.js';

export interface Pkcs11Options {
  /** `--pkcs11-module` (the URI's module-path wins). */
  modulePath?: string | undefined;
  /** For TUF_ROTATE_PKCS11_MODULE. */
  env?: Record<string, string | undefined>;
  pin: PinProvider;
}

/** Public facts about the token a key is on (shown in the page and the record). */
export interface TokenFacts {
  label: string;
  serial: string;
  manufacturer: string;
  model: string;
  firmware: string;
  module: string;
}

const ED25519_OID = Buffer.from('06032b6570', 'hex');
const ED25519_NAME = Buffer.concat([Buffer.from([0x13, 0x0c]), Buffer.from('edwards25519')]);
const P256_OID = Buffer.from('06082a8648ce3d030107', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

const ulong = (b: Buffer): number => (b.length === 0 ? 0 : b.readUIntLE(0, Math.min(6, b.length)));
const bool = (b: Buffer | undefined): boolean => b !== undefined && b.length > 0 && b[0] !== 0;

function tokenFacts(mod: LoadedModule, t: FoundToken): TokenFacts {
  const s = (x: string): string => x.replace(/[\s\0]+$/, '');
  return {
    label: t.label,
    serial: s(t.info.serialNumber),
    manufacturer: s(t.info.manufacturerID),
    model: s(t.info.model),
    firmware: `${t.info.firmwareVersion.major}.${t.info.firmwareVersion.minor}`,
    module: mod.path,
  };
}

/** A DER OCTET STRING's content, or the bytes as they are (some modules give the raw point). */
function unwrapOctetString(b: Buffer, rawLength: number): Buffer {
  if (b.length === rawLength) return b;
  if (b[0] === 0x04) {
    if (b[1] === rawLength && b.length === rawLength + 2) return b.subarray(2);
    if (b[1] === 0x81 && b[2] === rawLength && b.length === rawLength + 3) return b.subarray(3);
  }
  return b;
}

/** ECDSA r‖s (as PKCS#11 returns it) → DER SEQUENCE { INTEGER r, INTEGER s } (as TUF stores it). */
function ecdsaRawToDer(raw: Buffer): Buffer {
  const half = raw.length / 2;
  const int = (x: Buffer): Buffer => {
    let i = 0;
    while (i < x.length - 1 && x[i] === 0) i++;
    let v = x.subarray(i);
    if ((v[0] ?? 0) & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return Buffer.concat([Buffer.from([0x02, v.length]), v]);
  };
  const body = Buffer.concat([int(raw.subarray(0, half)), int(raw.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

interface KeyHandles {
  priv: Handle;
  pub: Handle | undefined;
}

/** Opens a session on the URI's token and logs in with the PIN (asked once, then dropped). */
async function openSession(mod: LoadedModule, uri: Pkcs11Uri, shown: string, pin: PinProvider, rw: boolean): Promise<{ token: FoundToken; session: Handle; pinKept?: string }> {
  const token = findToken(mod, uri, shown);
  let session: Handle;
  try {
    session = mod.p11.C_OpenSession(token.slot, CK.CKF_SERIAL_SESSION | (rw ? CK.CKF_RW_SESSION : 0));
  } catch (e) {
    throw p11Error(e, `opening a session on token "${token.label}"`);
  }
  const LOGIN_REQUIRED = 0x4;
  let loggedIn = false;
  try {
    const state = mod.p11.C_GetSessionInfo(session).state;
    loggedIn = state === 1 || state === 3; // CKS_RO_USER_FUNCTIONS, CKS_RW_USER_FUNCTIONS: another session of ours logged in
  } catch {
    // ask for the PIN
  }
  if (token.info.flags & LOGIN_REQUIRED && !loggedIn) {
    let pinText: string;
    try {
      pinText = await pin(token.label);
    } catch (e) {
      closeQuietly(mod, session);
      throw e;
    }
    try {
      mod.p11.C_Login(session, CK.CKU_USER, pinText);
    } catch (e) {
      if (ckrName(e) !== 'CKR_USER_ALREADY_LOGGED_IN') {
        closeQuietly(mod, session);
        let info = token.info;
        try {
          info = mod.p11.C_GetTokenInfo(token.slot);
        } catch {
          // keep the old flags
        }
        throw p11Error(e, `logging in to token "${token.label}"`, info);
      }
    }
    return { token, session, pinKept: pinText };
  }
  return { token, session };
}

function closeQuietly(mod: LoadedModule, session: Handle): void {
  try {
    mod.p11.C_CloseSession(session);
  } catch {
    // the token may be gone already
  }
}

function attrs(mod: LoadedModule, session: Handle, obj: Handle, types: number[]): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (const type of types) {
    try {
      const [a] = mod.p11.C_GetAttributeValue(session, obj, [{ type }]);
      if (a) out.set(type, a.value);
    } catch {
      // an attribute the object lacks or will not reveal
    }
  }
  return out;
}

/** The public half of a private key object, as DER SPKI checked by node:crypto. */
function readPublicKey(mod: LoadedModule, session: Handle, keys: KeyHandles, shown: string): PublicKeyInfo {
  const privAttrs = attrs(mod, session, keys.priv, [CK.CKA_KEY_TYPE, CK.CKA_MODULUS, CK.CKA_PUBLIC_EXPONENT, CK.CKA_EC_PARAMS]);
  const keyType = privAttrs.get(CK.CKA_KEY_TYPE);
  const what = `the public key of ${shown}`;
  if (keyType === undefined) throw new AppError('PKCS11_FAILED', `The token does not say what type of key ${shown} is.`, 'Check the key with pkcs11-tool --list-objects.');
  const kt = ulong(keyType);
  if (kt === CK.CKK_RSA) {
    let n = privAttrs.get(CK.CKA_MODULUS);
    let e = privAttrs.get(CK.CKA_PUBLIC_EXPONENT);
    if ((n === undefined || e === undefined) && keys.pub) {
      const pa = attrs(mod, session, keys.pub, [CK.CKA_MODULUS, CK.CKA_PUBLIC_EXPONENT]);
      n = pa.get(CK.CKA_MODULUS);
      e = pa.get(CK.CKA_PUBLIC_EXPONENT);
    }
    if (n === undefined || e === undefined) throw new AppError('PKCS11_KEY_NOT_FOUND', `The token does not reveal the RSA public key of ${shown}.`, 'Keep the public key object (same id) on the token beside the private key.');
    const obj = createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') }, format: 'jwk' });
    const info = publicKeyFromSpki(obj.export({ format: 'der', type: 'spki' }), 'rsa', what);
    if (info.bits < 2048) throw new AppError('KEY_TYPE_UNSUPPORTED', `${shown} is an RSA-${info.bits} key; TUF roots need RSA of at least 2048 bits.`, 'Use an RSA key of 2048, 3072 or 4096 bits, or an Ed25519 key.');
    return info;
  }
  if (kt !== CK.CKK_EC && kt !== CK.CKK_EC_EDWARDS) {
    throw new AppError('KEY_TYPE_UNSUPPORTED', `${shown} is a key of PKCS#11 type 0x${kt.toString(16)}, which cannot sign TUF metadata.`, 'Use an Ed25519, RSA (2048+) or ECDSA P-256 key.');
  }
  if (keys.pub === undefined) throw new AppError('PKCS11_KEY_NOT_FOUND', `The token holds no public key object for ${shown}.`, 'Keep the public key object (same id and label) on the token beside the private key.');
  const pa = attrs(mod, session, keys.pub, [CK.CKA_EC_POINT, CK.CKA_EC_PARAMS]);
  const params = pa.get(CK.CKA_EC_PARAMS) ?? privAttrs.get(CK.CKA_EC_PARAMS);
  const point = pa.get(CK.CKA_EC_POINT);
  if (params === undefined || point === undefined) throw new AppError('PKCS11_KEY_NOT_FOUND', `The token does not reveal the public point of ${shown}.`, 'Check the key with pkcs11-tool --list-objects.');
  if (kt === CK.CKK_EC_EDWARDS || params.equals(ED25519_OID) || params.equals(ED25519_NAME)) {
    if (!params.equals(ED25519_OID) && !params.equals(ED25519_NAME)) throw new AppError('KEY_TYPE_UNSUPPORTED', `${shown} is an Edwards-curve key other than Ed25519 (Ed448?).`, 'Use an Ed25519 key.');
    return publicKeyFromSpki(Buffer.concat([ED25519_SPKI_PREFIX, unwrapOctetString(point, 32)]), 'ed25519', what);
  }
  if (!params.equals(P256_OID)) throw new AppError('KEY_TYPE_UNSUPPORTED', `${shown} is an ECDSA key on a curve other than P-256.`, 'Use an ECDSA P-256 key (standard repositories only), an Ed25519 or an RSA key.');
  return publicKeyFromSpki(Buffer.concat([P256_SPKI_PREFIX, unwrapOctetString(point, 65)]), 'ecdsa', what);
}

/** The public key object beside a private key: same CKA_ID (else same label). */
function findPublicObject(mod: LoadedModule, session: Handle, priv: Handle): Handle | undefined {
  const a = attrs(mod, session, priv, [CK.CKA_ID, CK.CKA_LABEL]);
  const id = a.get(CK.CKA_ID);
  const label = a.get(CK.CKA_LABEL);
  const tries: Attr[][] = [];
  if (id !== undefined && id.length > 0) tries.push([{ type: CK.CKA_CLASS, value: CK.CKO_PUBLIC_KEY }, { type: CK.CKA_ID, value: id }]);
  if (label !== undefined && label.length > 0) tries.push([{ type: CK.CKA_CLASS, value: CK.CKO_PUBLIC_KEY }, { type: CK.CKA_LABEL, value: label }]);
  for (const t of tries) {
    const hits = findObjects(mod, session, t);
    if (hits.length === 1) return hits[0];
  }
  return undefined;
}

/** How a key of each algorithm signs on this token. */
function signingMechanism(mod: LoadedModule, slot: Handle, alg: KeyAlgorithm, bits: number): { mech: Mech; prehash: boolean; sigLen: number } {
  let mechs: number[];
  try {
    mechs = mod.p11.C_GetMechanismList(slot);
  } catch (e) {
    throw p11Error(e, 'listing the mechanisms of the token');
  }
  const has = (m: number): boolean => mechs.includes(m);
  switch (alg) {
    case 'ed25519':
      if (!has(CK.CKM_EDDSA)) throw noMechanism('Ed25519 signatures (CKM_EDDSA)');
      return { mech: { mechanism: CK.CKM_EDDSA }, prehash: false, sigLen: 64 };
    case 'rsa': {
      const parameter = { type: mod.js.CK_PARAMS_RSA_PSS, hashAlg: CK.CKM_SHA256, mgf: CK.CKG_MGF1_SHA256, saltLen: 32 };
      if (has(CK.CKM_SHA256_RSA_PKCS_PSS)) return { mech: { mechanism: CK.CKM_SHA256_RSA_PKCS_PSS, parameter }, prehash: false, sigLen: Math.ceil(bits / 8) };
      if (has(CK.CKM_RSA_PKCS_PSS)) return { mech: { mechanism: CK.CKM_RSA_PKCS_PSS, parameter }, prehash: true, sigLen: Math.ceil(bits / 8) };
      throw noMechanism('RSA-PSS signatures (CKM_SHA256_RSA_PKCS_PSS or CKM_RSA_PKCS_PSS)');
    }
    case 'ecdsa':
      if (!has(CK.CKM_ECDSA)) throw noMechanism('ECDSA signatures (CKM_ECDSA)');
      return { mech: { mechanism: CK.CKM_ECDSA }, prehash: true, sigLen: 132 };
  }
}

function noMechanism(what: string): AppError {
  return new AppError(
    'KEY_TYPE_UNSUPPORTED',
    `The token cannot make ${what}.`,
    'Choose a key type the token supports (a YubiKey needs firmware 5.7+ for Ed25519 and RSA-4096; older ones: RSA-2048), or use another token.',
  );
}

export class Pkcs11Signer implements Signer {
  readonly publicKey: PublicKeyInfo;
  /** The key's URI without any PIN: what archives, journals and records name. */
  readonly uri: string;
  readonly token: TokenFacts;
  /** What the token says about the private key (a key made by tuf-rotate is always false). */
  readonly extractable: boolean;
  readonly #mod: LoadedModule;
  readonly #session: Handle;
  readonly #key: Handle;
  readonly #mech: { mech: Mech; prehash: boolean; sigLen: number };
  /** Kept only for a key that wants the PIN before every signature (CKA_ALWAYS_AUTHENTICATE). */
  readonly #contextPin: string | undefined;
  /** The public key decoded once, for the check of every signature. */
  readonly #verifyKey: KeyObject;
  #queue: Promise<unknown> = Promise.resolve();
  #pending = 0;
  #closed = false;

  private constructor(init: {
    mod: LoadedModule;
    session: Handle;
    key: Handle;
    token: FoundToken;
    publicKey: PublicKeyInfo;
    uri: string;
    extractable: boolean;
    contextPin: string | undefined;
  }) {
    this.#mod = init.mod;
    this.#session = init.session;
    this.#key = init.key;
    this.publicKey = init.publicKey;
    this.uri = init.uri;
    this.extractable = init.extractable;
    this.token = tokenFacts(init.mod, init.token);
    this.#mech = signingMechanism(init.mod, init.token.slot, init.publicKey.algorithm, init.publicKey.bits);
    this.#contextPin = init.contextPin;
    this.#verifyKey = createPublicKey({ key: Buffer.from(init.publicKey.spki), format: 'der', type: 'spki' });
  }

  /** As the clients verify: Ed25519; RSA-PSS SHA-256 MGF1-SHA-256 with exactly salt 32 (what we asked for); ECDSA SHA-256 DER. */
  #verifies(data: Uint8Array, sig: Uint8Array): boolean {
    try {
      switch (this.publicKey.algorithm) {
        case 'ed25519':
          return cryptoVerify(null, data, this.#verifyKey, sig);
        case 'rsa':
          return cryptoVerify('sha256', data, { key: this.#verifyKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
        case 'ecdsa':
          return cryptoVerify('sha256', data, { key: this.#verifyKey, dsaEncoding: 'der' }, sig);
      }
    } catch {
      return false;
    }
  }

  /** Opens the one private key a URI names (0 or 2+ matches is an error naming the URI). */
  static async open(uriText: string, opts: Pkcs11Options): Promise<Pkcs11Signer> {
    const uri = parsePkcs11Uri(uriText);
    const shown = formatPkcs11Uri(uri);
    if (uri.object === undefined && uri.id === undefined) {
      throw new AppError('PKCS11_URI_INVALID', `${shown} names no key.`, 'Add object=KEY-LABEL or id=%NN to the URI.');
    }
    const mod = openModule(resolveModulePath(uri, opts));
    const { token, session, pinKept } = await openSession(mod, uri, shown, opts.pin, false);
    try {
      const hits = findObjects(mod, session, keyTemplate(uri, CK.CKO_PRIVATE_KEY));
      if (hits.length === 0) {
        throw new AppError('PKCS11_KEY_NOT_FOUND', `Token "${token.label}" holds no private key matching ${shown}.`, 'Check object= and id= in the URI (pkcs11-tool --list-objects --login shows the keys), and that this is the right token.');
      }
      if (hits.length > 1) throw new AppError('PKCS11_URI_INVALID', `${shown} matches ${hits.length} private keys on token "${token.label}".`, 'Add id=%NN to the URI so it names exactly one key.');
      const priv = hits[0] as Handle;
      return Pkcs11Signer.#fromHandles(mod, session, token, { priv, pub: findPublicObject(mod, session, priv) }, uri, pinKept);
    } catch (e) {
      closeQuietly(mod, session);
      throw e instanceof AppError ? e : p11Error(e, `finding ${shown}`);
    }
  }

  /**
   * Generates a non-extractable key pair on the token (object label from the URI, a random id if
   * the URI gives none) and opens it. RSA is 4096 bits, ECDSA P-256.
   */
  static async generate(uriText: string, algorithm: KeyAlgorithm, opts: Pkcs11Options): Promise<Pkcs11Signer> {
    const uri = parsePkcs11Uri(uriText);
    if (uri.token === undefined && uri.serial === undefined) throw new AppError('PKCS11_URI_INVALID', 'The URI for a new key must name its token (token=LABEL).', 'Write it as pkcs11:token=LABEL;object=NEW-KEY-LABEL.');
    if (uri.object === undefined) throw new AppError('PKCS11_URI_INVALID', 'The URI for a new key must give its label (object=NEW-KEY-LABEL).', 'Write it as pkcs11:token=LABEL;object=NEW-KEY-LABEL.');
    const id = uri.id ?? new Uint8Array(randomBytes(8));
    const full: Pkcs11Uri = { ...uri, id };
    const shown = formatPkcs11Uri(full);
    const mod = openModule(resolveModulePath(uri, opts));
    const { token, session, pinKept } = await openSession(mod, uri, shown, opts.pin, true);
    try {
      const mechs = mod.p11.C_GetMechanismList(token.slot);
      const gen = { ed25519: CK.CKM_EC_EDWARDS_KEY_PAIR_GEN, rsa: CK.CKM_RSA_PKCS_KEY_PAIR_GEN, ecdsa: CK.CKM_EC_KEY_PAIR_GEN }[algorithm];
      if (!mechs.includes(gen)) throw noMechanism(`${algorithm === 'rsa' ? 'RSA' : algorithm === 'ed25519' ? 'Ed25519' : 'ECDSA P-256'} keys`);
      signingMechanism(mod, token.slot, algorithm, algorithm === 'rsa' ? 4096 : 256); // refuse before generating
      const byLabel = findObjects(mod, session, [{ type: CK.CKA_LABEL, value: uri.object }]);
      const byId = findObjects(mod, session, [{ type: CK.CKA_ID, value: Buffer.from(id) }]);
      if (byLabel.length > 0 || byId.length > 0) {
        throw new AppError('PKCS11_KEY_EXISTS', `Token "${token.label}" already holds an object labelled "${uri.object}"${uri.id ? ' or with that id' : ''}.`, 'Choose a new object= label for the new key (existing keys are never overwritten).');
      }
      const idBuf = Buffer.from(id);
      const label = uri.object;
      const pubT: Attr[] = [
        { type: CK.CKA_CLASS, value: CK.CKO_PUBLIC_KEY },
        { type: CK.CKA_TOKEN, value: true },
        { type: CK.CKA_PRIVATE, value: false },
        { type: CK.CKA_VERIFY, value: true },
        { type: CK.CKA_ENCRYPT, value: false },
        { type: CK.CKA_WRAP, value: false },
        { type: CK.CKA_ID, value: idBuf },
        { type: CK.CKA_LABEL, value: label },
      ];
      const privT: Attr[] = [
        { type: CK.CKA_CLASS, value: CK.CKO_PRIVATE_KEY },
        { type: CK.CKA_TOKEN, value: true },
        { type: CK.CKA_PRIVATE, value: true },
        { type: CK.CKA_SENSITIVE, value: true },
        { type: CK.CKA_EXTRACTABLE, value: false },
        { type: CK.CKA_SIGN, value: true },
        { type: CK.CKA_DECRYPT, value: false },
        { type: CK.CKA_UNWRAP, value: false },
        { type: CK.CKA_DERIVE, value: false },
        { type: CK.CKA_ID, value: idBuf },
        { type: CK.CKA_LABEL, value: label },
      ];
      let mech: Mech;
      if (algorithm === 'rsa') {
        mech = { mechanism: CK.CKM_RSA_PKCS_KEY_PAIR_GEN };
        pubT.push({ type: CK.CKA_MODULUS_BITS, value: 4096 }, { type: CK.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) });
      } else if (algorithm === 'ed25519') {
        mech = { mechanism: CK.CKM_EC_EDWARDS_KEY_PAIR_GEN };
        pubT.push({ type: CK.CKA_KEY_TYPE, value: CK.CKK_EC_EDWARDS }, { type: CK.CKA_EC_PARAMS, value: ED25519_OID });
      } else {
        mech = { mechanism: CK.CKM_EC_KEY_PAIR_GEN };
        pubT.push({ type: CK.CKA_KEY_TYPE, value: CK.CKK_EC }, { type: CK.CKA_EC_PARAMS, value: P256_OID });
      }
      let pair: { publicKey: Handle; privateKey: Handle };
      try {
        pair = await mod.p11.C_GenerateKeyPairAsync(session, mech, pubT, privT);
      } catch (e) {
        throw p11Error(e, `generating a ${algorithm} key on token "${token.label}"`);
      }
      const signer = Pkcs11Signer.#fromHandles(mod, session, token, { priv: pair.privateKey, pub: pair.publicKey }, full, pinKept);
      if (signer.extractable) {
        // Never keep a root key that could be copied out of the token.
        try {
          mod.p11.C_DestroyObject(session, pair.privateKey);
          mod.p11.C_DestroyObject(session, pair.publicKey);
        } catch {
          // best effort
        }
        throw new AppError('PKCS11_FAILED', `Token "${token.label}" made the new key extractable although tuf-rotate asked for a non-extractable one.`, 'Use a token that honours CKA_EXTRACTABLE=false; the key was deleted again.');
      }
      return signer;
    } catch (e) {
      closeQuietly(mod, session);
      throw e instanceof AppError ? e : p11Error(e, `generating ${shown}`);
    }
  }

  static #fromHandles(mod: LoadedModule, session: Handle, token: FoundToken, keys: KeyHandles, uri: Pkcs11Uri, pinKept: string | undefined): Pkcs11Signer {
    const shown = formatPkcs11Uri(uri);
    const publicKey = readPublicKey(mod, session, keys, shown);
    const a = attrs(mod, session, keys.priv, [CK.CKA_EXTRACTABLE, CK.CKA_SENSITIVE, CK.CKA_ALWAYS_AUTHENTICATE, CK.CKA_ID, CK.CKA_SIGN]);
    const canSign = a.get(CK.CKA_SIGN);
    if (canSign !== undefined && !bool(canSign)) throw new AppError('KEY_TYPE_UNSUPPORTED', `${shown} is not allowed to sign (CKA_SIGN is false).`, 'Use a signing key.');
    const id = a.get(CK.CKA_ID);
    // The URI written down names the key by its id as well, so a relabelled key is still found.
    const named: Pkcs11Uri = id !== undefined && id.length > 0 ? { ...uri, id: new Uint8Array(id) } : uri;
    return new Pkcs11Signer({
      mod,
      session,
      key: keys.priv,
      token,
      publicKey,
      uri: formatPkcs11Uri(named),
      extractable: bool(a.get(CK.CKA_EXTRACTABLE)) || !bool(a.get(CK.CKA_SENSITIVE)),
      contextPin: bool(a.get(CK.CKA_ALWAYS_AUTHENTICATE)) ? pinKept : undefined,
    });
  }

  /** Ed25519 pure; RSA-PSS SHA-256, MGF1-SHA-256, salt 32; ECDSA P-256 SHA-256, DER. Verified before it is returned. */
  sign(data: Uint8Array): Promise<Uint8Array> {
    // One operation at a time on the session (C_SignInit … C_Sign must not interleave).
    const run = this.#pending === 0 ? this.#signNow(data) : this.#queue.then(() => this.#signNow(data));
    this.#pending++;
    const settled = run.then(
      () => {
        this.#pending--;
      },
      () => {
        this.#pending--;
      },
    );
    this.#queue = settled;
    return run;
  }

  async #signNow(data: Uint8Array): Promise<Uint8Array> {
    if (this.#closed) throw new AppError('PKCS11_FAILED', `The session for ${this.uri} was closed.`, 'Open the key again.');
    const { p11 } = this.#mod;
    const { mech, prehash, sigLen } = this.#mech;
    const input = prehash ? createHash('sha256').update(data).digest() : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let raw: Buffer;
    try {
      p11.C_SignInit(this.#session, mech, this.#key);
      if (this.#contextPin !== undefined) p11.C_Login(this.#session, CK.CKU_CONTEXT_SPECIFIC, this.#contextPin);
      raw = await p11.C_SignAsync(this.#session, input, Buffer.alloc(sigLen));
    } catch (e) {
      throw p11Error(e, `signing with ${this.uri}`);
    }
    const sig = this.publicKey.algorithm === 'ecdsa' ? ecdsaRawToDer(raw) : raw;
    if (!this.#verifies(data, sig)) {
      throw new AppError('SIGNING_FAILED', `The signature made by ${this.uri} does not verify with its public key.`, 'The token or its module is faulty, or the URI names another key than expected; nothing was written.');
    }
    return sig;
  }

  /** Ends the session (logging out when it was the last one on the token). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#mod, this.#session);
  }

  toJSON(): string {
    return `[pkcs11 signer ${this.uri}]`;
  }
}
