/**
 * The verifier's keys and signatures: decoded public keys, cached across steps and calls, and
 * SignatureSet, which counts the valid signatures of one root over one byte form by distinct key.
 */
import { isAppError } from '../../errors.js';
import type { PublicKeyInfo, Root, RootKey, RootRole } from '../model.js';
import { publicKeyOf } from '../public-key.js';
import { decodeSignature, verifySignature } from '../sign.js';
import { has } from './common.js';

// ---------------------------------------------------------------------------------------------
// Decoded public keys, cached across steps and calls

type Decoded =
  | { ok: true; pub: PublicKeyInfo; /** identity of the public key: its SPKI DER, base64 */ id: string }
  | { ok: false; reason: string };

const KEY_CACHE_LIMIT = 4096;
const keyCache = new Map<string, Decoded>();

export function decodeKey(key: RootKey): Decoded {
  const cacheKey = `${key.keytype}\u0000${key.scheme ?? ''}\u0000${key.public}`;
  let d = keyCache.get(cacheKey);
  if (d === undefined) {
    try {
      const pub = publicKeyOf(key);
      d = { ok: true, pub, id: Buffer.from(pub.spki).toString('base64') };
    } catch (e) {
      // public-key.ts messages name the key type and the problem, never key bytes.
      d = { ok: false, reason: isAppError(e) ? e.message : 'it cannot be decoded' };
    }
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
    keyCache.set(cacheKey, d);
  }
  return d;
}

/** Identity of a key for counting distinct keys: its public key, or (undecodable) its text. */
export function identityOf(key: RootKey): string {
  const d = decodeKey(key);
  return d.ok ? d.id : `raw\u0000${key.keytype}\u0000${key.public}`;
}

// ---------------------------------------------------------------------------------------------
// Signature counting over one byte form of one root

/** The signatures of one root over one byte form; each (signature, key) pair is verified once. */
export class SignatureSet {
  readonly #root: Root;
  readonly #bytes: Uint8Array;
  readonly #memo = new Map<string, boolean>();
  readonly #raw = new Map<number, Uint8Array | undefined>();

  constructor(root: Root, bytes: Uint8Array) {
    this.#root = root;
    this.#bytes = bytes;
  }

  /**
   * Valid signatures by keys of `role` (looked up in `keys`), counting each public key once.
   * Empty slots, unknown key IDs, keys outside the role and undecodable keys are skipped, as the
   * device and TUF clients skip them.
   */
  count(role: RootRole, keys: Record<string, RootKey>): { distinct: number; keyIds: string[]; byKeyId: number } {
    const inRole = new Set(role.keyids);
    const seen = new Set<string>();
    const keyIds: string[] = [];
    // What clients that count key IDs (devices, tuf-js, python-tuf) would count.
    const validIds = new Set<string>();
    this.#root.signatures.forEach((s, i) => {
      if (s.sig === '' || !inRole.has(s.keyid)) return;
      const key = has(keys, s.keyid);
      if (key === undefined) return;
      const d = decodeKey(key);
      if (!d.ok) return;
      if (seen.has(d.id)) {
        if (!validIds.has(s.keyid) && this.#valid(i, d.pub, d.id)) validIds.add(s.keyid);
        return;
      }
      if (this.#valid(i, d.pub, d.id)) {
        seen.add(d.id);
        keyIds.push(s.keyid);
        validIds.add(s.keyid);
      }
    });
    return { distinct: seen.size, keyIds, byKeyId: validIds.size };
  }

  #valid(index: number, pub: PublicKeyInfo, keyIdentity: string): boolean {
    const memoKey = `${index}\u0000${keyIdentity}`;
    let ok = this.#memo.get(memoKey);
    if (ok === undefined) {
      let raw = this.#raw.get(index);
      if (!this.#raw.has(index)) {
        const sig = this.#root.signatures[index];
        raw = sig === undefined ? undefined : decodeSignature(this.#root.dialect, sig);
        this.#raw.set(index, raw);
      }
      ok = raw !== undefined && verifySignature(pub, this.#bytes, raw);
      this.#memo.set(memoKey, ok);
    }
    return ok;
  }
}
