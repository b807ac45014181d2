/**
 * The PKCS#11 module of a token (SoftHSM2, OpenSC, ykcs11, a network HSM's library), loaded once
 * per process through pkcs11js, and the few Cryptoki calls tuf-rotate needs: find the token, log in,
 * find a key, read its public half. pkcs11js is an optional dependency (a native build), so it is
 * loaded only when a `pkcs11:` key is used, and its absence is a coded error, not a crash.
 *
 * Every PKCS#11 error (`CKR_…`) becomes an AppError with a code and a hint. No PIN ever reaches a
 * message: PINs are passed to C_Login and dropped.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { AppError } from '../errors.js';
import type { Pkcs11Uri } from './pkcs11-uri.js';

// ---------------------------------------------------------------------------------------------
// The subset of pkcs11js we use (typed here, so the code compiles where the optional build failed).

export type Handle = Buffer;
export interface Attr {
  type: number;
  value?: number | boolean | string | Buffer;
}
export interface Mech {
  mechanism: number;
  parameter?: Buffer | { type: number; hashAlg: number; mgf: number; saltLen: number };
}
export interface TokenInfo {
  label: string;
  manufacturerID: string;
  model: string;
  serialNumber: string;
  flags: number;
  firmwareVersion: { major: number; minor: number };
}
export interface Pkcs11Api {
  load(path: string): void;
  close(): void;
  C_Initialize(options?: { flags?: number }): void;
  C_Finalize(): void;
  C_GetSlotList(tokenPresent?: boolean): Handle[];
  C_GetTokenInfo(slot: Handle): TokenInfo;
  C_GetMechanismList(slot: Handle): number[];
  C_OpenSession(slot: Handle, flags: number): Handle;
  C_CloseSession(session: Handle): void;
  C_GetSessionInfo(session: Handle): { state: number; flags: number };
  C_Login(session: Handle, userType: number, pin?: string): void;
  C_FindObjectsInit(session: Handle, template: Attr[]): void;
  C_FindObjects(session: Handle, maxObjectCount: number): Handle[];
  C_FindObjectsFinal(session: Handle): void;
  C_GetAttributeValue(session: Handle, object: Handle, template: Attr[]): { type: number; value: Buffer }[];
  C_SignInit(session: Handle, mechanism: Mech, key: Handle): void;
  C_Sign(session: Handle, inData: Buffer, outData: Buffer): Buffer;
  C_SignAsync(session: Handle, inData: Buffer, outData: Buffer): Promise<Buffer>;
  C_GenerateKeyPairAsync(session: Handle, mechanism: Mech, publicTmpl: Attr[], privateTmpl: Attr[]): Promise<{ publicKey: Handle; privateKey: Handle }>;
  C_DestroyObject(session: Handle, object: Handle): void;
}
interface Pkcs11Js {
  PKCS11: new () => Pkcs11Api;
  CK_PARAMS_RSA_PSS: number;
}

// PKCS#11 2.40 / 3.0 numbers (pkcs11js lacks the 3.0 ones: CKK_EC_EDWARDS, CKM_EDDSA, …).
export const CK = {
  CKA_CLASS: 0x0,
  CKA_TOKEN: 0x1,
  CKA_PRIVATE: 0x2,
  CKA_LABEL: 0x3,
  CKA_VALUE: 0x11,
  CKA_KEY_TYPE: 0x100,
  CKA_ID: 0x102,
  CKA_SENSITIVE: 0x103,
  CKA_ENCRYPT: 0x104,
  CKA_DECRYPT: 0x105,
  CKA_WRAP: 0x106,
  CKA_UNWRAP: 0x107,
  CKA_SIGN: 0x108,
  CKA_VERIFY: 0x10a,
  CKA_DERIVE: 0x10c,
  CKA_MODULUS: 0x120,
  CKA_MODULUS_BITS: 0x121,
  CKA_PUBLIC_EXPONENT: 0x122,
  CKA_PRIVATE_EXPONENT: 0x123,
  CKA_EXTRACTABLE: 0x162,
  CKA_EC_PARAMS: 0x180,
  CKA_EC_POINT: 0x181,
  CKA_ALWAYS_AUTHENTICATE: 0x202,
  CKO_PUBLIC_KEY: 2,
  CKO_PRIVATE_KEY: 3,
  CKK_RSA: 0x0,
  CKK_EC: 0x3,
  CKK_EC_EDWARDS: 0x40,
  CKM_RSA_PKCS_KEY_PAIR_GEN: 0x0,
  CKM_RSA_PKCS_PSS: 0xd,
  CKM_SHA256_RSA_PKCS_PSS: 0x43,
  CKM_SHA256: 0x250,
  CKG_MGF1_SHA256: 0x2,
  CKM_EC_KEY_PAIR_GEN: 0x1040,
  CKM_ECDSA: 0x1041,
  CKM_EC_EDWARDS_KEY_PAIR_GEN: 0x1055,
  CKM_EDDSA: 0x1057,
  CKF_OS_LOCKING_OK: 0x2,
  CKF_RW_SESSION: 0x2,
  CKF_SERIAL_SESSION: 0x4,
  CKF_TOKEN_INITIALIZED: 0x400,
  CKF_USER_PIN_COUNT_LOW: 0x10000,
  CKF_USER_PIN_FINAL_TRY: 0x20000,
  CKF_USER_PIN_LOCKED: 0x40000,
  CKU_USER: 1,
  CKU_CONTEXT_SPECIFIC: 2,
} as const;

/** Where Debian and Ubuntu put the usual modules: SoftHSM2 first, then OpenSC (PIV cards, YubiKeys). */
export const DEFAULT_MODULE_PATHS = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so',
  '/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so',
  '/usr/lib/opensc-pkcs11.so',
];

export const MODULE_ENV = 'TUF_ROTATE_PKCS11_MODULE';

/**
 * The module to load: the URI's `module-path`, else `--pkcs11-module`, else TUF_ROTATE_PKCS11_MODULE,
 * else the first usual path that exists.
 */
export function resolveModulePath(uri: Pkcs11Uri, opts: { modulePath?: string | undefined; env?: Record<string, string | undefined> }): string {
  const chosen = uri.modulePath ?? opts.modulePath ?? opts.env?.[MODULE_ENV];
  if (chosen !== undefined && chosen !== '') return chosen;
  const found = DEFAULT_MODULE_PATHS.find((p) => existsSync(p));
  if (found === undefined) {
    throw new AppError(
      'PKCS11_UNAVAILABLE',
      `No PKCS#11 module was given and none is installed in the usual places (${DEFAULT_MODULE_PATHS.slice(0, 2).join(', ')}, …).`,
      `Name your token's module with --pkcs11-module PATH or ${MODULE_ENV} (for example libykcs11.so, opensc-pkcs11.so, or your HSM's library), or install SoftHSM2 (apt-get install libsofthsm2) to practise.`,
    );
  }
  return found;
}

let pkcs11js: Pkcs11Js | undefined;

/** pkcs11js, loaded on first use. */
export function loadPkcs11js(): Pkcs11Js {
  if (pkcs11js) return pkcs11js;
  try {
    // A variable specifier keeps bundlers from pulling the native addon into the bundle.
    const name = 'pkcs11js';
    pkcs11js = createRequire(import.meta.url)(name) as Pkcs11Js;
  } catch (e) {
    throw new AppError(
      'PKCS11_UNAVAILABLE',
      'Hardware keys need the optional pkcs11js module, which is not installed (its native build may have failed).',
      'Run "npm install" where g++, make and python3 are available, then try again.',
      { cause: e },
    );
  }
  return pkcs11js;
}

export interface LoadedModule {
  path: string;
  p11: Pkcs11Api;
  js: Pkcs11Js;
}

const modules = new Map<string, LoadedModule>();

/** Loads and initialises a module once per process (a second C_Initialize would fail). */
export function openModule(path: string): LoadedModule {
  const known = modules.get(path);
  if (known) return known;
  const js = loadPkcs11js();
  if (!existsSync(path)) {
    throw new AppError(
      'PKCS11_UNAVAILABLE',
      `The PKCS#11 module ${path} does not exist.`,
      `Check --pkcs11-module or ${MODULE_ENV}: it names the token's library, for example /usr/lib/softhsm/libsofthsm2.so or /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so.`,
    );
  }
  const p11 = new js.PKCS11();
  try {
    p11.load(path);
  } catch (e) {
    throw new AppError('PKCS11_UNAVAILABLE', `The PKCS#11 module ${path} could not be loaded.`, 'Check that the file is a PKCS#11 library for this machine (same architecture), and that its own libraries are installed.', { cause: e });
  }
  try {
    // The async calls run on libuv's worker threads, so the module must do its own locking.
    p11.C_Initialize({ flags: CK.CKF_OS_LOCKING_OK });
  } catch (e) {
    if (ckrName(e) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
      p11.close();
      throw p11Error(e, `initialising the PKCS#11 module ${path}`);
    }
  }
  const mod = { path, p11, js };
  modules.set(path, mod);
  return mod;
}

/** Finalises every loaded module (the CLI does this when a command ends; tests between tokens). */
export function closeModules(): void {
  for (const mod of modules.values()) {
    try {
      mod.p11.C_Finalize();
    } catch {
      // already finalised
    }
    try {
      mod.p11.close();
    } catch {
      // already closed
    }
  }
  modules.clear();
}

// ---------------------------------------------------------------------------------------------
// Errors

/** `CKR_PIN_INCORRECT` etc. from a pkcs11js error, or undefined. */
export function ckrName(e: unknown): string | undefined {
  if (!(e instanceof Error)) return undefined;
  const m = /\b(CKR_[A-Z0-9_]+)/.exec(e.message) ?? /\b(CKR_[A-Z0-9_]+)/.exec(String(e.stack ?? ''));
  return m?.[1];
}

/** A PKCS#11 failure as a coded AppError; `doing` says what we were doing ("signing with …"). */
export function p11Error(e: unknown, doing: string, token?: TokenInfo): AppError {
  if (e instanceof AppError) return e;
  const ckr = ckrName(e) ?? 'an unknown error';
  switch (ckr) {
    case 'CKR_PIN_INCORRECT':
    case 'CKR_PIN_INVALID':
    case 'CKR_PIN_LEN_RANGE': {
      const flags = token?.flags ?? 0;
      const left =
        flags & CK.CKF_USER_PIN_FINAL_TRY
          ? ' Only one try is left before the PIN locks.'
          : flags & CK.CKF_USER_PIN_COUNT_LOW
            ? ' Few tries are left before the PIN locks.'
            : '';
      return new AppError('PKCS11_PIN_INCORRECT', `The token refused the PIN (${ckr}) while ${doing}.`, `Check the PIN (the user PIN, not the SO PIN) and try again.${left}`, { cause: e });
    }
    case 'CKR_PIN_LOCKED':
    case 'CKR_PIN_EXPIRED':
      return new AppError('PKCS11_PIN_LOCKED', `The token's user PIN is locked or expired (${ckr}) while ${doing}.`, "Unlock or reset the PIN with the token's own tool (for a YubiKey: ykman piv access unblock-pin), then try again.", { cause: e });
    case 'CKR_USER_NOT_LOGGED_IN':
      return new AppError('PKCS11_PIN_REQUIRED', `The token wants the PIN (or a touch) again (${ckr}) while ${doing}.`, 'Give the PIN again; if the key has a touch policy, touch the key when it blinks.', { cause: e });
    case 'CKR_TOKEN_NOT_PRESENT':
    case 'CKR_DEVICE_REMOVED':
    case 'CKR_SESSION_HANDLE_INVALID':
    case 'CKR_SESSION_CLOSED':
    case 'CKR_SLOT_ID_INVALID':
    case 'CKR_TOKEN_NOT_RECOGNIZED':
    case 'CKR_OBJECT_HANDLE_INVALID':
    case 'CKR_KEY_HANDLE_INVALID':
    case 'CKR_CRYPTOKI_NOT_INITIALIZED':
      return new AppError('PKCS11_TOKEN_NOT_FOUND', `The token or its key went away (${ckr}) while ${doing}.`, 'Insert the token (or reconnect the HSM) and run the step again; nothing was published.', { cause: e });
    case 'CKR_MECHANISM_INVALID':
    case 'CKR_KEY_TYPE_INCONSISTENT':
    case 'CKR_KEY_FUNCTION_NOT_PERMITTED':
      return new AppError('KEY_TYPE_UNSUPPORTED', `The token cannot do this with this key (${ckr}) while ${doing}.`, 'Use a key type the token supports for signing (Ed25519, RSA with PSS, or ECDSA P-256 for standard repositories).', { cause: e });
    default:
      return new AppError('PKCS11_FAILED', `The PKCS#11 module failed (${ckr}) while ${doing}.`, "Check the token and its module; the token's own tool (pkcs11-tool --list-objects) shows what it holds.", { cause: e });
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens and objects

export interface FoundToken {
  slot: Handle;
  info: TokenInfo;
  label: string;
}

const trimmed = (s: string): string => s.replace(/[\s\0]+$/, '');

/** Lists the tokens present (label, serial, maker, model, firmware): public facts. */
export function listTokens(mod: LoadedModule): FoundToken[] {
  let slots: Handle[];
  try {
    slots = mod.p11.C_GetSlotList(true);
  } catch (e) {
    throw p11Error(e, 'listing the tokens');
  }
  const out: FoundToken[] = [];
  for (const slot of slots) {
    try {
      const info = mod.p11.C_GetTokenInfo(slot);
      if ((info.flags & CK.CKF_TOKEN_INITIALIZED) === 0) continue;
      out.push({ slot, info, label: trimmed(info.label) });
    } catch {
      // a slot whose token went away while we listed: skip it
    }
  }
  return out;
}

/** The one token the URI names (by label, serial, maker, model, slot id). */
export function findToken(mod: LoadedModule, uri: Pkcs11Uri, shown: string): FoundToken {
  const all = listTokens(mod);
  const hits = all.filter(
    (t) =>
      (uri.token === undefined || t.label === uri.token) &&
      (uri.serial === undefined || trimmed(t.info.serialNumber) === uri.serial) &&
      (uri.manufacturer === undefined || trimmed(t.info.manufacturerID) === uri.manufacturer) &&
      (uri.model === undefined || trimmed(t.info.model) === uri.model) &&
      (uri.slotId === undefined || t.slot.readUIntLE(0, Math.min(6, t.slot.length)) === uri.slotId),
  );
  if (hits.length === 1 && hits[0]) return hits[0];
  if (hits.length === 0) {
    const present = all.map((t) => `"${t.label}"`).join(', ');
    throw new AppError(
      'PKCS11_TOKEN_NOT_FOUND',
      `No token matching ${shown} is present in ${mod.path}${present ? ` (present: ${present})` : ' (no token is present)'}.`,
      'Insert the token, or fix token= (and serial=) in the URI; pkcs11-tool --module MODULE --list-token-slots shows the labels.',
    );
  }
  throw new AppError('PKCS11_URI_INVALID', `${shown} matches ${hits.length} tokens in ${mod.path}.`, 'Add serial=SERIAL to the URI so it names exactly one token.');
}

export function findObjects(mod: LoadedModule, session: Handle, template: Attr[]): Handle[] {
  const { p11 } = mod;
  p11.C_FindObjectsInit(session, template);
  try {
    const out: Handle[] = [];
    for (;;) {
      const batch = p11.C_FindObjects(session, 16);
      if (batch.length === 0) break;
      out.push(...batch);
      if (out.length > 1024) break;
    }
    return out;
  } finally {
    p11.C_FindObjectsFinal(session);
  }
}

/** The private-key template a URI names (label and/or id). */
export function keyTemplate(uri: Pkcs11Uri, cls: number): Attr[] {
  const t: Attr[] = [{ type: CK.CKA_CLASS, value: cls }];
  if (uri.object !== undefined) t.push({ type: CK.CKA_LABEL, value: uri.object });
  if (uri.id !== undefined) t.push({ type: CK.CKA_ID, value: Buffer.from(uri.id) });
  return t;
}
