/**
 * A key that lives in a hardware token cannot be backed up into an archive. In its place the
 * archive keeps the public key (the usual `.pub`) and `<base>.pkcs11.json`: which token and key
 * (an RFC 7512 URI without any PIN), so `status`, the page and the next rotation know where the
 * key lives. It holds no secret. Pure: no fs, no module.
 */
import { isJsonObject } from '../tuf/json.js';
import type { JsonObject } from '../tuf/json.js';
import { parsePkcs11Uri } from '../signers/pkcs11-uri.js';

export const TOKEN_REF_FORMAT = 'tuf-rotate/pkcs11-key';
export const TOKEN_REF_SUFFIX = '.pkcs11.json';

export interface TokenRef {
  uri: string;
  keyid: string;
  token: { label: string; serial: string; manufacturer: string; model: string };
  createdAt: string;
  /** The operator's reason for a key with no backup, when the backup gate asked for one. */
  noBackupAck?: string;
}

export function tokenRefName(base: string): string {
  return `${base}${TOKEN_REF_SUFFIX}`;
}

export function tokenRefBytes(ref: TokenRef): Uint8Array {
  const o: JsonObject = {
    format: TOKEN_REF_FORMAT,
    version: 1,
    keyid: ref.keyid,
    uri: ref.uri,
    token: ref.token,
    createdAt: ref.createdAt,
    ...(ref.noBackupAck !== undefined ? { noBackupAck: ref.noBackupAck } : {}),
  };
  return new TextEncoder().encode(JSON.stringify(o, null, 2) + '\n');
}

/** The URI a token reference names, or a reason it is unusable (never throws). */
export function readTokenRef(data: Uint8Array): { uri: string } | { problem: string } {
  let o: unknown;
  try {
    o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    return { problem: 'is not JSON' };
  }
  if (!isJsonObject(o) || o['format'] !== TOKEN_REF_FORMAT || o['version'] !== 1 || typeof o['uri'] !== 'string') {
    return { problem: `is not a ${TOKEN_REF_FORMAT} v1 file` };
  }
  try {
    parsePkcs11Uri(o['uri']);
  } catch {
    return { problem: 'names no valid pkcs11: URI' };
  }
  return { uri: o['uri'] };
}
