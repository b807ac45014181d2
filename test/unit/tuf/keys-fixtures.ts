/** Helpers shared by keys.test.ts and sign.test.ts: fixture loading without the code under test. */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { SHARED_FIXTURES } from '../../helpers/assert-app-error.js';
import type { JsonObject } from '../../../server/tuf/json.js';
import type { RootKey } from '../../../server/tuf/model.js';

export function fixtureBytes(rel: string): Buffer {
  return readFileSync(new URL(rel, SHARED_FIXTURES));
}

export function fixtureJson(rel: string): JsonObject {
  return JSON.parse(fixtureBytes(rel).toString('utf8')) as JsonObject;
}

/** Regular files of a .tgz, by name (a minimal ustar/GNU reader, enough for the fixtures). */
export function readTgz(rel: string): Map<string, Buffer> {
  const tar = gunzipSync(fixtureBytes(rel));
  const files = new Map<string, Buffer>();
  const field = (h: Buffer, start: number, len: number): string =>
    h.subarray(start, start + len).toString('latin1').replace(/\0.*$/s, '');
  let off = 0;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const prefix = field(h, 345, 155);
    const name = (prefix ? `${prefix}/` : '') + field(h, 0, 100);
    const size = parseInt(field(h, 124, 12).trim() || '0', 8);
    const type = field(h, 156, 1);
    off += 512;
    if (type === '0' || type === '') files.set(name, Buffer.from(tar.subarray(off, off + size)));
    off += Math.ceil(size / 512) * 512;
  }
  return files;
}

/** A RootKey built straight from a key object (as metadata.ts would, without depending on it). */
export function rootKeyOf(json: JsonObject): RootKey {
  const keyval = json['keyval'] as JsonObject;
  return {
    keytype: json['keytype'] as string,
    scheme: typeof json['scheme'] === 'string' ? json['scheme'] : undefined,
    public: keyval['public'] as string,
    algorithm: undefined,
    json,
  };
}

/** `signed.keys` of a root document as [keyid, key object] pairs. */
export function keysOf(doc: JsonObject): [string, JsonObject][] {
  const signed = doc['signed'] as JsonObject;
  return Object.entries(signed['keys'] as JsonObject) as [string, JsonObject][];
}

export const SIGSTORE_VERSIONS = Array.from({ length: 15 }, (_, i) => i + 1);
