import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KeyArchive, readKeyArchive } from './archive/read.js';
import { AppError } from './errors.js';
import { parsePemPrivateKey } from './tuf/private-key.js';
import { publicKeyOf, samePublicKey } from './tuf/public-key.js';
import type { PrivateKey } from './tuf/private-key.js';
import type { PublicKeyInfo, Root, Signer } from './tuf/model.js';
import { LocalSigner } from './tuf/sign.js';
import { isPkcs11Uri } from './signers/pkcs11-uri.js';
import type { Pkcs11Options } from './signers/pkcs11.js';
import { readFileLimited, sha256Hex } from './util/fs-atomic.js';

export const ARCHIVE_FILE_LIMIT = 10 * 1024 * 1024;
const PEM_FILE_LIMIT = 64 * 1024;

/**
 * A private key we can sign with, and where it came from: an archive entry or a PEM file (`key`
 * holds it in memory), or a hardware token (`tokenUri`; the key never leaves the token).
 */
export interface HeldKey {
  label: string;
  publicKey: PublicKeyInfo;
  signer: Signer;
  /** A file key's private key; undefined for a token key. */
  key?: PrivateKey;
  /** A token key's pkcs11: URI (no PIN). */
  tokenUri?: string;
}

export function fileHeldKey(label: string, key: PrivateKey): HeldKey {
  return { label, key, publicKey: key.publicKey, signer: new LocalSigner(key) };
}

/** Closes the token sessions a ring opened (file keys need nothing). */
export function closeKeyRing(ring: KeyRing): void {
  for (const h of ring.keys) {
    const s = h.signer as Signer & { close?: () => void };
    if (h.tokenUri !== undefined && typeof s.close === 'function') s.close();
  }
}

/**
 * The keys the operator brought: a Factory key archive (kept whole, for writing the new archive)
 * or PEM private key files, as holders of standard repositories keep them.
 */
export interface KeyRing {
  source: string;
  archive: KeyArchive | undefined;
  keys: HeldKey[];
  /**
   * Opens the token keys the archive records (`.pkcs11.json`) that this root's root role lists and
   * that are not held yet. Called once the current root is known, so a token key of an older root
   * (still recorded in the archive) never asks for a PIN.
   */
  openTokenKeysFor?: (root: Root) => Promise<void>;
}

export function keyRingFromArchive(archive: KeyArchive, source: string): KeyRing {
  const keys: HeldKey[] = [];
  for (const k of archive.keys) {
    if (k.status !== 'ok') continue;
    const key = archive.privateKey(k.base);
    if (key) keys.push(fileHeldKey(k.pubName ?? k.base, key));
  }
  return { source, archive, keys };
}

/** An archive with no entries: the start of a new one when keys came as PEM files. */
export function emptyArchive(): KeyArchive {
  return new KeyArchive(undefined, sha256Hex(new Uint8Array()), 0, [], [], new Map());
}

/**
 * Reads `--keys`: one `.tgz` archive, or PEM files, or a folder of PEM files, and any number of
 * `pkcs11:` URIs of token keys (opened with `pkcs11`: module and PIN source). An archive whose key
 * lives in a token (a `.pkcs11.json` beside its `.pub`) opens that token key too, when `pkcs11` is given.
 */
export async function loadKeyRing(allInputs: string[], pkcs11?: Pkcs11Options): Promise<KeyRing> {
  const uris = allInputs.filter(isPkcs11Uri);
  const inputs = allInputs.filter((i) => !isPkcs11Uri(i));
  if (allInputs.length === 0) {
    throw new AppError('BAD_USAGE', 'No keys were given.', 'Pass --keys with the key archive (.tgz) or PEM private key files.');
  }
  const tokenKeys: HeldKey[] = [];
  const ring = inputs.length > 0 ? await loadFileKeys(inputs) : { source: '', archive: undefined, keys: [] };
  if (uris.length > 0) {
    if (pkcs11 === undefined) throw new AppError('BAD_USAGE', 'Token keys (pkcs11:) cannot be used here.', 'Use the key archive or PEM files.');
    const { Pkcs11Signer } = await import('./signers/pkcs11.js');
    try {
      for (const uri of uris) {
        const signer = await Pkcs11Signer.open(uri, pkcs11);
        tokenKeys.push({ label: `${signer.uri} (token "${signer.token.label}")`, publicKey: signer.publicKey, signer, tokenUri: signer.uri });
      }
    } catch (e) {
      closeKeyRing({ source: '', archive: undefined, keys: tokenKeys });
      throw e;
    }
  }
  const out: KeyRing = { source: allInputs.join(', '), archive: ring.archive, keys: [...ring.keys, ...tokenKeys] };
  const recorded = (ring.archive?.keys ?? []).filter((k) => k.status === 'token' && k.tokenUri !== undefined && k.publicKey !== undefined);
  if (pkcs11 !== undefined && recorded.length > 0) {
    out.openTokenKeysFor = async (root) => {
      const { Pkcs11Signer } = await import('./signers/pkcs11.js');
      for (const keyid of root.roles['root']?.keyids ?? []) {
        const rk = root.keys[keyid];
        if (!rk) continue;
        let pub;
        try {
          pub = publicKeyOf(rk);
        } catch {
          continue;
        }
        if (out.keys.some((h) => samePublicKey(h.publicKey, pub))) continue;
        const k = recorded.find((r) => r.publicKey !== undefined && samePublicKey(r.publicKey, pub));
        if (k?.tokenUri === undefined) continue;
        const signer = await Pkcs11Signer.open(k.tokenUri, pkcs11);
        if (!samePublicKey(signer.publicKey, pub)) {
          signer.close();
          throw new AppError('KEY_MISMATCH', `The token key ${signer.uri} is not the key the archive records for root key ${keyid.slice(0, 8)}.`, 'Check that the right token is inserted (its label and serial are in the archive\'s .pkcs11.json).');
        }
        out.keys.push({ label: `${signer.uri} (token "${signer.token.label}")`, publicKey: signer.publicKey, signer, tokenUri: signer.uri });
      }
    };
  }
  return out;
}

async function loadFileKeys(inputs: string[]): Promise<KeyRing> {
  const first = inputs[0] ?? '';
  if (inputs.length === 1 && /\.(tgz|tar\.gz)$/i.test(first)) {
    const bytes = await readFileLimited(first, ARCHIVE_FILE_LIMIT, 'key archive');
    const archive = await readKeyArchive(bytes, { name: path.basename(first) });
    return keyRingFromArchive(archive, first);
  }
  const files: string[] = [];
  for (const input of inputs) {
    let st;
    try {
      st = await fs.stat(input);
    } catch {
      throw new AppError('FILE_NOT_FOUND', `Cannot read keys from ${input}: no such file or folder.`, 'Check the --keys path.');
    }
    if (st.isDirectory()) {
      const names = (await fs.readdir(input)).filter((n) => /\.(pem|key)$/i.test(n)).sort();
      files.push(...names.map((n) => path.join(input, n)));
    } else {
      files.push(input);
    }
  }
  if (files.length === 0) {
    throw new AppError('KEY_INVALID', `No .pem or .key files found in ${inputs.join(', ')}.`, 'Give PEM private key files or a key archive (.tgz).');
  }
  const keys: HeldKey[] = [];
  for (const file of files) {
    const text = (await readFileLimited(file, PEM_FILE_LIMIT, 'PEM key file')).toString('utf8');
    try {
      keys.push(fileHeldKey(path.basename(file), parsePemPrivateKey(text)));
    } catch (e) {
      if (e instanceof AppError) throw new AppError(e.code, `${path.basename(file)}: ${e.message}`, e.hint);
      throw e;
    }
  }
  return { source: inputs.join(', '), archive: undefined, keys };
}

/** The keys of a role that we hold, matched by public key material (never by name or key ID). */
export function heldKeysForRole(ring: KeyRing, root: Root, role = 'root'): Map<string, HeldKey> {
  const out = new Map<string, HeldKey>();
  for (const keyid of root.roles[role]?.keyids ?? []) {
    const rk = root.keys[keyid];
    if (!rk) continue;
    let pub;
    try {
      pub = publicKeyOf(rk);
    } catch {
      continue;
    }
    const held = ring.keys.find((h) => samePublicKey(h.publicKey, pub));
    if (held) out.set(keyid, held);
  }
  return out;
}
