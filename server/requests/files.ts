/**
 * Request files on disk: REQ.json stays exactly as written (immutable: its id binds it); the
 * coordinator's collected signatures and event log live beside it in REQ.sigs.json; the bytes to
 * sign beside it as REQ.<payload>.v<N>.bin for holders who sign with openssl.
 */
import { createPublicKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { LocalRepoBackend } from '../backends/local-repo.js';
import { AppError } from '../errors.js';
import { parseRoot } from '../tuf/metadata.js';
import type { Root } from '../tuf/model.js';
import { fileHeldKey, loadKeyRing, type HeldKey } from '../keyring.js';
import { parsePemPrivateKey } from '../tuf/private-key.js';
import type { PublicKeyInfo } from '../tuf/model.js';
import { exists, readFileLimited, writeFileAtomic } from '../util/fs-atomic.js';
import { parseCollected, emptyCollected, type Collected } from './signatures.js';
import { REQUEST_FILE_LIMIT, parseRequest, payloadFileName, serializeRequest, type SigningRequest } from './request.js';

export const SIG_FILE_LIMIT = 1024 * 1024;

/** The trusted root exactly as a local repository serves it: N.root.json's bytes, else root.json's. */
export async function servedTrustedBytes(backend: LocalRepoBackend, current: Root): Promise<Uint8Array> {
  const numbered = path.join(backend.metadataDir, `${current.version}.root.json`);
  const file = (await exists(numbered)) ? numbered : path.join(backend.metadataDir, 'root.json');
  const bytes = new Uint8Array(await readFileLimited(file, 1024 * 1024, 'root metadata'));
  const parsed = parseRoot(bytes, file);
  if (JSON.stringify(parsed.signedJson) !== JSON.stringify(current.signedJson)) {
    throw new AppError('REPO_INVALID', `${file} is not the root the repository serves as current.`, 'Repair the repository metadata first.');
  }
  return bytes;
}

export async function readRequestFile(file: string): Promise<SigningRequest> {
  if (!(await exists(file))) throw new AppError('FILE_NOT_FOUND', `${file} does not exist.`, 'Give the path of the request file (REQ.json).');
  return parseRequest(await readFileLimited(file, REQUEST_FILE_LIMIT, 'signing request'), path.basename(file));
}

/** REQ.json → REQ.sigs.json */
export function companionPath(reqFile: string): string {
  return reqFile.replace(/(\.json)?$/i, '.sigs.json');
}

/** REQ.json → REQ.root.v3.bin */
export function payloadPath(reqFile: string, p: { name: string; version: number }): string {
  return reqFile.replace(/(\.json)?$/i, `.${payloadFileName(p)}`);
}

/** REQ.json → REQ.record.json */
export function recordPath(reqFile: string): string {
  return reqFile.replace(/(\.json)?$/i, '.record.json');
}

export async function readCollected(reqFile: string, req: SigningRequest): Promise<Collected | undefined> {
  const file = companionPath(reqFile);
  if (!(await exists(file))) return undefined;
  return parseCollected((await readFileLimited(file, REQUEST_FILE_LIMIT, 'collected signatures')).toString('utf8'), req);
}

export async function readOrStartCollected(reqFile: string, req: SigningRequest): Promise<Collected> {
  return (await readCollected(reqFile, req)) ?? emptyCollected(req);
}

export async function writeCollected(reqFile: string, c: Collected): Promise<void> {
  await writeFileAtomic(companionPath(reqFile), JSON.stringify(c, null, 1) + '\n', { mode: 0o644, overwrite: true });
}

/** Writes REQ.json (never over an existing file) and the .bin of every payload beside it. */
export async function writeRequestFiles(reqFile: string, req: SigningRequest): Promise<string[]> {
  await writeFileAtomic(reqFile, serializeRequest(req), { mode: 0o644 });
  const bins: string[] = [];
  for (const p of req.payloads) {
    const bin = payloadPath(reqFile, p);
    await writeFileAtomic(bin, Buffer.from(p.canonical, 'base64'), { mode: 0o644, overwrite: true });
    bins.push(bin);
  }
  return bins;
}

/** A key file's public half: from a PEM private key (then also the key), or a PEM or DER public key. */
export async function readPemKey(file: string): Promise<{ pub: PublicKeyInfo; priv?: HeldKey }> {
  const buf = await readFileLimited(file, 64 * 1024, 'PEM key file');
  const text = buf.toString('utf8');
  if (/-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(text)) {
    const key = parsePemPrivateKey(text);
    return { pub: key.publicKey, priv: fileHeldKey(path.basename(file), key) };
  }
  try {
    // PEM, or DER SubjectPublicKeyInfo (what `pkcs11-tool --read-object --type pubkey` writes for RSA).
    const obj = text.includes('-----BEGIN') ? createPublicKey(text) : createPublicKey({ key: buf, format: 'der', type: 'spki' });
    const spki = new Uint8Array(obj.export({ format: 'der', type: 'spki' }));
    const t = obj.asymmetricKeyType;
    const algorithm = t === 'ed25519' ? 'ed25519' : t === 'rsa' ? 'rsa' : t === 'ec' ? 'ecdsa' : undefined;
    if (algorithm === undefined) throw new Error('type');
    const bits = algorithm === 'rsa' ? (obj.asymmetricKeyDetails?.modulusLength ?? 0) : 256;
    return { pub: { algorithm, spki, bits } };
  } catch {
    throw new AppError('KEY_INVALID', `${path.basename(file)} is not a PEM public or private key tuf-rotate can use.`, 'Give an Ed25519, RSA or ECDSA P-256 key in PEM form.');
  }
}

export async function loadHeldKeys(inputs: string[]): Promise<HeldKey[]> {
  return (await loadKeyRing(inputs)).keys;
}

export async function readSmall(file: string, what: string): Promise<Uint8Array> {
  try {
    await fs.stat(file);
  } catch {
    throw new AppError('FILE_NOT_FOUND', `${file} does not exist.`, `Give the path of the ${what}.`);
  }
  return new Uint8Array(await readFileLimited(file, SIG_FILE_LIMIT, what));
}
