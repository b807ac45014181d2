/**
 * The types every module of the rotation core shares. Pure: no fs, no network, no Fastify.
 * Field names are camelCase here; the spec's snake_case appears only in metadata.ts, which maps
 * documents to these types and back.
 */
import type { Json, JsonObject } from './json.js';

/** Foundries (ota-tuf / aktualizr, `_type: "Root"`) or the TUF specification (`_type: "root"`). */
export type Dialect = 'foundries' | 'spec';

/** Key algorithms we can verify, and (per dialect) generate. */
export type KeyAlgorithm = 'ed25519' | 'rsa' | 'ecdsa';

/** A key object as it appears in `signed.keys` of a root. */
export interface RootKey {
  /** `keytype` exactly as written (`ED25519`, `RSA`, `ed25519`, `rsa`, `ecdsa`, `ecdsa-sha2-nistp256`, …). */
  keytype: string;
  /** `scheme` as written (spec dialect), undefined when absent (Foundries). */
  scheme: string | undefined;
  /** `keyval.public` as written. */
  public: string;
  /** The algorithm this key object denotes, or undefined when we cannot use it (unknown type). */
  algorithm: KeyAlgorithm | undefined;
  /** The key object exactly as written in the document (unknown fields kept). */
  json: JsonObject;
}

export interface RootRole {
  keyids: string[];
  threshold: number;
}

/** One entry of a document's `signatures` array. */
export interface RootSignature {
  keyid: string;
  /** `sig` as written: base64 (Foundries) or hex (spec). */
  sig: string;
  /** `method` as written (Foundries only). */
  method: string | undefined;
  json: JsonObject;
}

export interface Changelog {
  polisId: string | undefined;
  message: string | undefined;
  timestamp: string | undefined;
}

export interface KeyOwner {
  polisId: string | undefined;
  createdAt: string | undefined;
}

/**
 * A parsed root metadata document. `signedJson` is the signed part exactly as parsed: it is what
 * signatures cover (canonicalised per dialect) and what a rotation starts from. The typed fields
 * are a read-only view of it.
 */
export interface Root {
  dialect: Dialect;
  signedJson: JsonObject;
  signatures: RootSignature[];
  /** `_type` as written (`Root` or `root`). */
  type: string;
  version: number;
  /** `expires` as written. */
  expires: string;
  /** `expires` parsed (fractions and offsets allowed on input). */
  expiresAt: Date;
  consistentSnapshot: boolean | undefined;
  specVersion: string | undefined;
  keys: Record<string, RootKey>;
  /** root, targets, snapshot, timestamp (all four required). */
  roles: Record<string, RootRole>;
  /** Foundries `x-changelog`, if present. */
  changelog: Changelog | undefined;
  /** Foundries `x-key-owners`, if present. */
  keyOwners: Record<string, KeyOwner> | undefined;
}

/** The whole document as written to disk or sent over the wire. */
export interface RootDocument {
  signatures: JsonObject[];
  signed: JsonObject;
  [extra: string]: Json;
}

/** Public half of a key, decoded and ready for verification. */
export interface PublicKeyInfo {
  algorithm: KeyAlgorithm;
  /** DER SubjectPublicKeyInfo. Two keys are the same key exactly when these bytes are equal. */
  spki: Uint8Array;
  /** RSA modulus size in bits; 256 for ed25519 and ecdsa P-256. */
  bits: number;
}

/**
 * Produces raw signatures. A file key implements it with node:crypto; a hardware key can implement
 * it later. Private material never leaves the implementation.
 */
export interface Signer {
  readonly publicKey: PublicKeyInfo;
  /** Raw signature bytes: Ed25519 64 bytes; RSA-PSS (SHA-256, MGF1-SHA-256, salt 32); ECDSA DER. */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** The identifiers of every rule the verifier checks. The UI shows each as a checklist line. */
export type RuleId =
  | 'parse' // the document is a well-formed root of its dialect
  | 'type' // `_type` is the dialect's root type
  | 'version' // version is exactly trusted + 1
  | 'expiry' // not expired (final root of a chain only)
  | 'expires-format' // Foundries: expires exactly YYYY-MM-DDTHH:MM:SSZ (libaktualizr refuses anything else)
  | 'roles-complete' // root, targets, snapshot, timestamp present
  | 'role-keys-present' // every role's key IDs exist in `keys`
  | 'thresholds-reachable' // 1 <= threshold <= distinct keys of the role
  | 'distinct-keys' // one public key listed under two key IDs counts once
  | 'signatures-unique' // no key ID signs twice
  | 'signature-methods' // Foundries: only ed25519 / rsassa-pss-sha256 methods
  | 'key-types' // Foundries: only RSA and ED25519 keys (any case), each decodable
  | 'api-key-form' // Foundries API: key objects exactly as the API writes them (upper-case keytype, no extra fields)
  | 'api-fields' // Foundries API: no unknown fields in signed, exactly the four roles of {keyids, threshold}
  | 'keyid-hash' // spec: key ID equals the hash of its key object (warning only)
  | 'canonical-ascii' // Foundries: every signed string printable ASCII (except RSA PEM)
  | 'size' // Foundries: document <= 64 KiB
  | 'threshold-old' // threshold of the trusted root's root role signed
  | 'threshold-new' // threshold of the new root's own root role signed
  | 'rsa-pss-salt' // Foundries API: RSA-PSS signatures with salt length 32
  | 'fioctl-form'; // Foundries RSA roots: would fioctl's byte form verify too (informational)

/**
 * Whose rule a result is: the verifiers that would refuse the root when it is broken.
 * device = libaktualizr (aktualizr-lite); foundries-api = the Factory's API (ota-tuf fork);
 * spec-clients = tuf-js and python-tuf; strict-clients = tough; fioctl = fioctl's own check;
 * tuf-rotate = a rule of this tool that none of them enforces.
 */
export type RuleSource = 'device' | 'foundries-api' | 'spec-clients' | 'strict-clients' | 'fioctl' | 'tuf-rotate';

/** The four verifiers of the closing matrix, in its order. */
export type Verifier = 'libaktualizr' | 'foundries-api' | 'tuf-js/python-tuf' | 'tough';

/** One entry of the matrix that ends a report: what this verifier would do with the root(s). */
export interface VerifierVerdict {
  verifier: Verifier;
  /** Its name as shown: "libaktualizr", "Foundries API", "tuf-js/python-tuf", "tough". */
  label: string;
  /** not-applicable: the root is of the other dialect, this verifier never sees it. */
  verdict: 'accepts' | 'refuses' | 'not-applicable';
  /** Why it refuses (short phrases, e.g. "RSA-PSS salt 478, needs 32"); empty when it accepts. */
  reasons: string[];
}

export interface RuleResult {
  rule: RuleId;
  /** pass: satisfied; fail: the root is refused; warn: accepted, but the user should know; info: a note. */
  status: 'pass' | 'fail' | 'warn' | 'info';
  /** A plain sentence naming what was checked and found. Never contains key material other than key IDs. */
  message: string;
  /** Version of the root this result is about. */
  version: number;
  /** Whose rule this is (never empty). A fail or warn counts as a refusal by each of these verifiers. */
  sources: RuleSource[];
  /** For a fail or warn: a short phrase for the matrix ("RSA-PSS salt 478, needs 32"). */
  short?: string;
}

export interface VerifyReport {
  ok: boolean;
  dialect: Dialect;
  /** Every rule checked, in checklist order. */
  results: RuleResult[];
  /** Who would accept or refuse this root, by verifier. */
  matrix: VerifierVerdict[];
}

export interface ChainReport {
  ok: boolean;
  /** The dialect of the trusted root (and so of every root of the chain). */
  dialect: Dialect;
  /** Version of the last root accepted (the trusted one if none was). */
  finalVersion: number;
  /** Version at which the walk stopped, if it failed. */
  failedAt: number | undefined;
  steps: VerifyReport[];
  warnings: RuleResult[];
  /**
   * Set when every version verifies but the final root had expired at the time checked: a client
   * refuses to go on until a newer root is published (a rotation or an expiry refresh renews it).
   */
  expired: { version: number; expires: string } | undefined;
  /** Who would accept or refuse the chain, by verifier (every step counted). */
  matrix: VerifierVerdict[];
}
