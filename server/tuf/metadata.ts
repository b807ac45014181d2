/**
 * Root metadata documents of both dialects: parse (validating shapes, keeping every unknown field),
 * and write back. The spec's snake_case names appear only here; the rest of the core uses the
 * camelCase view in model.ts. Semantic rules (thresholds, key types, signatures) are the verifier's:
 * this module checks only that each field has the shape its dialect gives it.
 *
 * Pure: no fs, no network.
 */
import { AppError } from '../errors.js';
import { childPath } from './canonical-json.js';
import { cloneJson, isJsonObject } from './json.js';
import type { Json, JsonObject } from './json.js';
import type {
  Changelog,
  Dialect,
  KeyAlgorithm,
  KeyOwner,
  Root,
  RootDocument,
  RootKey,
  RootRole,
  RootSignature,
} from './model.js';

/** Largest root document we read (bytes of UTF-8). */
export const MAX_ROOT_BYTES = 1024 * 1024;

/** The four top-level roles every root defines. */
export const REQUIRED_ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;

const encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Dates

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Parses RFC 3339 (fractions and offsets allowed); undefined when `s` is not one. */
export function tryParseExpires(s: string): Date | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number, number, number, number, number, number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000);
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day); // setUTCFullYear: years 0–99 stay literal
  d.setUTCHours(hour, minute, second, ms);
  return new Date(d.getTime() - offsetMinutes * 60_000);
}

/** Parses an `expires` value: RFC 3339, e.g. `2021-12-18T13:28:12.99008-06:00` (ms precision kept). */
export function parseExpires(s: string): Date {
  const d = tryParseExpires(s);
  if (d === undefined) {
    throw new AppError(
      'ROOT_FIELD_INVALID',
      `expires ${JSON.stringify(s.slice(0, 64))} is not an RFC 3339 date-time`,
      'Write expires as YYYY-MM-DDTHH:MM:SSZ (UTC), for example 2030-01-01T00:00:00Z.',
    );
  }
  return d;
}

/** `YYYY-MM-DDTHH:MM:SSZ` in UTC; sub-second parts are dropped (round before calling to round). */
export function formatExpires(d: Date): string {
  const t = d.getTime();
  if (!Number.isFinite(t) || d.getUTCFullYear() < 0 || d.getUTCFullYear() > 9999) {
    throw new AppError(
      'ROOT_FIELD_INVALID',
      'expires is not a valid date between the years 0000 and 9999',
      'Choose an expiry date such as one year from now.',
    );
  }
  return d.toISOString().slice(0, 19) + 'Z';
}

// ---------------------------------------------------------------------------------------------
// Keys

/**
 * The algorithm a key object denotes, or undefined when we cannot use it. Keytype spellings of both
 * dialects are accepted; when a scheme is given it must be the one scheme we verify for that
 * algorithm (`ed25519`, `rsassa-pss-sha256`, `ecdsa-sha2-nistp256`).
 */
export function algorithmOf(keytype: string, scheme: string | undefined): KeyAlgorithm | undefined {
  let alg: KeyAlgorithm | undefined;
  let expectedScheme: string;
  switch (keytype) {
    case 'RSA':
    case 'rsa':
      alg = 'rsa';
      expectedScheme = 'rsassa-pss-sha256';
      break;
    case 'ED25519':
    case 'ed25519':
      alg = 'ed25519';
      expectedScheme = 'ed25519';
      break;
    case 'ecdsa':
    case 'ecdsa-sha2-nistp256':
      alg = 'ecdsa';
      expectedScheme = 'ecdsa-sha2-nistp256';
      break;
    default:
      return undefined;
  }
  return scheme === undefined || scheme === expectedScheme ? alg : undefined;
}

// ---------------------------------------------------------------------------------------------
// Dialect

function dialectOfType(type: unknown): Dialect {
  if (type === 'Root') return 'foundries';
  if (type === 'root') return 'spec';
  const found = type === undefined ? 'no _type' : `_type ${JSON.stringify(type)}`;
  throw new AppError(
    'ROOT_DIALECT_UNKNOWN',
    `signed has ${found}; a root has _type "Root" (Foundries) or "root" (TUF specification)`,
    'Load root metadata (root.json or N.root.json), not targets, snapshot or timestamp metadata.',
  );
}

/** `_type` `Root` → foundries, `root` → spec. Accepts a whole document or its `signed` part. */
export function detectDialect(doc: unknown): Dialect {
  if (!isJsonObject(doc)) return dialectOfType(undefined);
  const signed = isJsonObject(doc.signed) ? doc.signed : doc;
  return dialectOfType(signed._type);
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** Collects the source name so every message can say which file it is about. */
class Checker {
  constructor(private readonly source: string | undefined) {}

  fail(path: string, what: string, hint?: string): never {
    const prefix = this.source === undefined ? '' : `${this.source}: `;
    throw new AppError(
      'ROOT_FIELD_INVALID',
      `${prefix}${path} ${what}`,
      hint ?? 'Load the root.json the repository or Factory published; it may have been edited by hand or cut short.',
    );
  }

  object(v: Json | undefined, path: string): JsonObject {
    if (!isJsonObject(v)) this.fail(path, `must be an object (found ${describe(v)})`);
    return v;
  }

  string(v: Json | undefined, path: string): string {
    if (typeof v !== 'string') this.fail(path, `must be a string (found ${describe(v)})`);
    return v;
  }

  optionalString(v: Json | undefined, path: string): string | undefined {
    return v === undefined ? undefined : this.string(v, path);
  }

  integer(v: Json | undefined, path: string, min?: number): number {
    const bound = min === undefined ? '' : ` ≥ ${min}`;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || (min !== undefined && v < min)) {
      this.fail(path, `must be an integer${bound} (found ${describe(v)})`);
    }
    return v;
  }

  stringArray(v: Json | undefined, path: string): string[] {
    if (!Array.isArray(v)) this.fail(path, `must be an array of strings (found ${describe(v)})`);
    return v.map((item, i) => this.string(item, childPath(path, i)));
  }
}

function describe(v: Json | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number') return Number.isInteger(v) ? `the number ${v}` : `the non-integer ${v}`;
  return `${String(v)}`;
}

function label(source: string | undefined): string {
  return source ?? 'the root metadata';
}

function tooLarge(source: string | undefined, bytes: number): AppError {
  return new AppError(
    'ROOT_TOO_LARGE',
    `${label(source)} is ${bytes} bytes; root metadata is at most ${MAX_ROOT_BYTES} bytes`,
    'Check that this is a root.json file; real roots are a few kilobytes.',
  );
}

/** Line and column (1-based) of a character offset, for JSON error messages. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  return { line, column };
}

/**
 * Offset of the first JSON syntax error in `text` (or text.length when it stops early). V8's own
 * messages give a position only for some errors, and quote the input for others.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i] ?? '')) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const literal = (word: string): void => {
    for (const ch of word) {
      if (text[i] !== ch) fail();
      i++;
    }
  };
  const str = (): void => {
    i++; // opening quote
    for (;;) {
      const ch = text[i];
      if (ch === undefined || ch.charCodeAt(0) < 0x20) fail();
      if (ch === '"') {
        i++;
        return;
      }
      if (ch === '\\') {
        i++;
        const e = text[i];
        if (e === 'u') {
          i++;
          for (let n = 0; n < 4; n++, i++) if (!/[0-9a-fA-F]/.test(text[i] ?? '')) fail();
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++;
        else fail();
      } else i++;
    }
  };
  const digits = (): void => {
    if (!/[0-9]/.test(text[i] ?? '')) fail();
    while (/[0-9]/.test(text[i] ?? '')) i++;
  };
  const num = (): void => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else digits();
    if (text[i] === '.') {
      i++;
      digits();
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      digits();
    }
  };
  const value = (): void => {
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        str();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else fail();
      }
    } else if (ch === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else fail();
      }
    } else if (ch === '"') str();
    else if (ch === 't') literal('true');
    else if (ch === 'f') literal('false');
    else if (ch === 'n') literal('null');
    else if (ch !== undefined && /[-0-9]/.test(ch)) num();
    else fail();
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
  } catch (at) {
    if (typeof at === 'number') return Math.min(at, text.length);
    throw at;
  }
  return text.length;
}

function parseJsonText(text: string, source: string | undefined): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (e) {
    // Never quote V8's message: it can include a snippet of the input, which could be key material.
    const offset = jsonErrorOffset(text);
    const at =
      offset >= text.length
        ? 'at the end (the text stops early)'
        : (({ line, column }) => `at line ${line}, column ${column} (character ${offset})`)(lineColumn(text, offset));
    throw new AppError(
      'JSON_INVALID',
      `${label(source)} is not valid JSON: syntax error ${at}`,
      'Check that the file is a complete, unmodified root.json.',
      { cause: e },
    );
  }
}

function decodeInput(input: string | Uint8Array | Json, source: string | undefined): Json {
  if (input instanceof Uint8Array) {
    if (input.length > MAX_ROOT_BYTES) throw tooLarge(source, input.length);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch (e) {
      throw new AppError('JSON_INVALID', `${label(source)} is not UTF-8 text`, 'Check that the file is a root.json, not an archive or binary file.', { cause: e });
    }
    return parseJsonText(text, source);
  }
  if (typeof input === 'string') {
    const bytes = encoder.encode(input).length;
    if (bytes > MAX_ROOT_BYTES) throw tooLarge(source, bytes);
    return parseJsonText(input.startsWith('\ufeff') ? input.slice(1) : input, source);
  }
  const bytes = encoder.encode(JSON.stringify(input) ?? '').length;
  if (bytes > MAX_ROOT_BYTES) throw tooLarge(source, bytes);
  return cloneJson(input);
}

function parseKey(c: Checker, v: Json | undefined, path: string): RootKey {
  const json = c.object(v, path);
  const keytype = c.string(json.keytype, `${path}.keytype`);
  const scheme = c.optionalString(json.scheme, `${path}.scheme`);
  const keyval = c.object(json.keyval, `${path}.keyval`);
  const pub = c.string(keyval.public, `${path}.keyval.public`);
  return { keytype, scheme, public: pub, algorithm: algorithmOf(keytype, scheme), json };
}

function parseRole(c: Checker, v: Json | undefined, path: string): RootRole {
  const role = c.object(v, path);
  // Threshold 0 or unreachable thresholds are the verifier's to report, not a shape error.
  return { keyids: c.stringArray(role.keyids, `${path}.keyids`), threshold: c.integer(role.threshold, `${path}.threshold`) };
}

function parseSignature(c: Checker, v: Json | undefined, path: string): RootSignature {
  const json = c.object(v, path);
  return {
    keyid: c.string(json.keyid, `${path}.keyid`),
    sig: c.string(json.sig, `${path}.sig`), // may be "": an empty slot (sigstore has those)
    method: c.optionalString(json.method, `${path}.method`),
    json,
  };
}

function parseChangelog(c: Checker, v: Json | undefined, path: string): Changelog | undefined {
  if (v === undefined || v === null) return undefined;
  const o = c.object(v, path);
  return {
    polisId: c.optionalString(o['polis-id'], `${path}.polis-id`),
    message: c.optionalString(o.message, `${path}.message`),
    timestamp: c.optionalString(o.timestamp, `${path}.timestamp`),
  };
}

function parseKeyOwners(c: Checker, v: Json | undefined, path: string): Record<string, KeyOwner> | undefined {
  if (v === undefined || v === null) return undefined;
  const o = c.object(v, path);
  const owners: Record<string, KeyOwner> = {};
  for (const [id, entry] of Object.entries(o)) {
    const p = childPath(path, id);
    const e = c.object(entry, p);
    owners[id] = {
      polisId: c.optionalString(e['polis-id'], `${p}.polis-id`),
      createdAt: c.optionalString(e['created-at'], `${p}.created-at`),
    };
  }
  return owners;
}

/**
 * Parses and validates a root document of either dialect. `source` (a file name) prefixes error
 * messages. Accepts what real roots contain: expires with fractions and offsets, extra fields
 * anywhere (kept in `signedJson` and the `json` members), empty signature slots.
 */
export function parseRoot(input: string | Uint8Array | Json, source?: string): Root {
  const doc = decodeInput(input, source);
  if (!isJsonObject(doc) || !isJsonObject(doc.signed) || !Array.isArray(doc.signatures)) {
    throw new AppError(
      'ROOT_INVALID',
      `${label(source)} is not TUF metadata: it must be an object with a "signed" object and a "signatures" array`,
      'Load a root.json file as the repository or Factory published it.',
    );
  }
  const signedJson = doc.signed;
  const dialect = dialectOfType(signedJson._type);
  const type = signedJson._type as string;
  const c: Checker = new Checker(source);

  const version = c.integer(signedJson.version, 'signed.version', 1);
  const expires = c.string(signedJson.expires, 'signed.expires');
  const expiresAt = tryParseExpires(expires);
  if (expiresAt === undefined) {
    c.fail('signed.expires', `must be an RFC 3339 date-time such as 2030-01-01T00:00:00Z (found ${JSON.stringify(expires.slice(0, 64))})`);
  }

  let consistentSnapshot: boolean | undefined;
  const cs = signedJson.consistent_snapshot;
  if (cs !== undefined) {
    if (typeof cs !== 'boolean') c.fail('signed.consistent_snapshot', `must be true or false (found ${describe(cs)})`);
    consistentSnapshot = cs;
  }

  const specVersion =
    dialect === 'spec'
      ? c.string(signedJson.spec_version, 'signed.spec_version')
      : c.optionalString(signedJson.spec_version, 'signed.spec_version');

  const keys: Record<string, RootKey> = {};
  for (const [id, k] of Object.entries(c.object(signedJson.keys, 'signed.keys'))) {
    keys[id] = parseKey(c, k, childPath('signed.keys', id));
  }

  const rolesJson = c.object(signedJson.roles, 'signed.roles');
  const roles: Record<string, RootRole> = {};
  for (const name of REQUIRED_ROLES) {
    if (rolesJson[name] === undefined) c.fail(`signed.roles.${name}`, 'is missing; a root defines the root, targets, snapshot and timestamp roles');
  }
  for (const [name, r] of Object.entries(rolesJson)) roles[name] = parseRole(c, r, childPath('signed.roles', name));

  const signatures = doc.signatures.map((s, i) => parseSignature(c, s, `signatures[${i}]`));

  return {
    dialect,
    signedJson,
    signatures,
    type,
    version,
    expires,
    expiresAt,
    consistentSnapshot,
    specVersion,
    keys,
    roles,
    changelog: parseChangelog(c, signedJson['x-changelog'], 'signed.x-changelog'),
    keyOwners: parseKeyOwners(c, signedJson['x-key-owners'], 'signed.x-key-owners'),
  };
}

// ---------------------------------------------------------------------------------------------
// Writing

/** The document as written: `signatures` first, then `signed` (the order both dialects publish). */
export function toDocument(signedJson: JsonObject, signatures: JsonObject[]): RootDocument {
  return { signatures, signed: signedJson };
}

/** 2-space pretty JSON and a final newline. Key order is kept as given. */
export function serializeRoot(doc: RootDocument): string {
  return JSON.stringify(doc, null, 2) + '\n';
}

function pick(src: JsonObject, names: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const n of names) {
    const v = src[n];
    if (v !== undefined) out[n] = v;
  }
  return out;
}

/**
 * The fields fioctl keeps when it decodes and re-encodes `signed` (foundries-api.md §5.1); every
 * other field in `signed`, in a key or in a role is dropped, as fioctl's Go structs drop it.
 * Expects a validated `signed` (parseRoot); members are copied, not shared.
 */
export function foundriesSignedFields(signed: JsonObject): JsonObject {
  const out: JsonObject = {};
  out._type = signed._type ?? null;
  out.consistent_snapshot = typeof signed.consistent_snapshot === 'boolean' ? signed.consistent_snapshot : false;
  if (signed.expires !== undefined) out.expires = signed.expires;

  const keys: JsonObject = {};
  if (isJsonObject(signed.keys)) {
    for (const [id, k] of Object.entries(signed.keys)) {
      if (!isJsonObject(k)) continue;
      const key: JsonObject = {};
      if (k.keytype !== undefined) key.keytype = k.keytype;
      key.keyval = isJsonObject(k.keyval) ? pick(k.keyval, ['public']) : {};
      keys[id] = key;
    }
  }
  out.keys = keys;

  const roles: JsonObject = {};
  if (isJsonObject(signed.roles)) {
    for (const [name, r] of Object.entries(signed.roles)) {
      if (isJsonObject(r)) roles[name] = pick(r, ['keyids', 'threshold']);
    }
  }
  out.roles = roles;
  if (signed.version !== undefined) out.version = signed.version;

  const changelog = signed['x-changelog'];
  if (isJsonObject(changelog)) out['x-changelog'] = pick(changelog, ['polis-id', 'message', 'timestamp']);

  const owners = signed['x-key-owners'];
  if (isJsonObject(owners) && Object.keys(owners).length > 0) {
    const o: JsonObject = {};
    for (const [id, e] of Object.entries(owners)) {
      if (isJsonObject(e)) o[id] = pick(e, ['polis-id', 'created-at']);
    }
    out['x-key-owners'] = o;
  }
  return cloneJson(out);
}
