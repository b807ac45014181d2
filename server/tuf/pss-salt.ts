/**
 * The salt length of an RSASSA-PSS signature (SHA-256, MGF1-SHA-256), recovered from the signature
 * itself (RFC 8017 §9.1.2, EMSA-PSS-VERIFY, with the salt length read from the encoded message
 * instead of assumed). Devices accept any salt length; the Foundries API only 32 (tuf-dialects.md,
 * Signatures), so the verifier names the length it found ("salt 478, needs 32").
 *
 * Only public keys are used here. Pure: no fs, no network.
 */
import { constants, createHash, createPublicKey, publicDecrypt } from 'node:crypto';

const H_LEN = 32;

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** MGF1 with SHA-256 (RFC 8017 appendix B.2.1). */
function mgf1(seed: Uint8Array, length: number): Buffer {
  const out = Buffer.alloc(Math.ceil(length / H_LEN) * H_LEN);
  const counter = Buffer.alloc(4);
  for (let i = 0; i * H_LEN < length; i++) {
    counter.writeUInt32BE(i);
    sha256(seed, counter).copy(out, i * H_LEN);
  }
  return out.subarray(0, length);
}

/**
 * The salt length of `sig`, an RSASSA-PSS SHA-256 signature over `data` by the RSA key `spki`
 * (SubjectPublicKeyInfo DER) of `bits` modulus bits; undefined when the signature does not verify.
 */
export function rsaPssSaltLength(spki: Uint8Array, bits: number, data: Uint8Array, sig: Uint8Array): number | undefined {
  const k = Math.ceil(bits / 8);
  if (sig.length !== k) return undefined;
  let m: Buffer;
  try {
    const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    m = publicDecrypt({ key, padding: constants.RSA_NO_PADDING }, sig); // s^e mod n, k bytes
  } catch {
    return undefined;
  }
  const emBits = bits - 1;
  const emLen = Math.ceil(emBits / 8);
  if (m.length !== k || emLen < H_LEN + 2) return undefined;
  if (emLen < k && m[0] !== 0) return undefined;
  const em = m.subarray(k - emLen);
  if (em[emLen - 1] !== 0xbc) return undefined;
  const dbLen = emLen - H_LEN - 1;
  const h = em.subarray(dbLen, dbLen + H_LEN);
  const db = Buffer.from(em.subarray(0, dbLen));
  const mask = mgf1(h, dbLen);
  for (let i = 0; i < dbLen; i++) db[i] = (db[i] ?? 0) ^ (mask[i] ?? 0);
  const topBits = 8 * emLen - emBits;
  db[0] = (db[0] ?? 0) & (0xff >> topBits);
  let i = 0;
  while (i < dbLen && db[i] === 0) i++;
  if (i >= dbLen || db[i] !== 0x01) return undefined;
  const salt = db.subarray(i + 1);
  const expected = sha256(Buffer.alloc(8), sha256(data), salt);
  return expected.equals(h) ? salt.length : undefined;
}
