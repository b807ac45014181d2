/**
 * The three canonical byte forms of a JSON value that TUF signatures cover.
 *
 * - `canonicalSpec`: OLPC canonical JSON, byte for byte what `@tufjs/canonical-json` produces (the
 *   oracle for the spec dialect; securesystemslib agrees on every input a real root holds).
 * - `canonicalDevice`: libaktualizr's re-serialisation of `signed` (jsoncpp 1.9.3
 *   `StreamWriterBuilder`, indentation "", emitUTF8 false). This is what Foundries devices verify.
 * - `canonicalFioctl`: fioctl's `MarshalCanonical`, from Foundries' fork of docker/go
 *   (`foundriesio/go@a487d04`, pinned by fioctl's go.mod since v0.15), which escapes `\n` `\r` `\t`.
 *
 * They agree exactly when every string is printable ASCII apart from `\n` (and `\r`, `\t`, which
 * jsoncpp and the fork escape alike): so the newlines of RSA PEM keys give the same bytes in all
 * three (foundries-operations.md §1 C1). Callers that sign Foundries roots refuse any other string
 * outside printable ASCII (`nonAsciiStrings`), where the forms differ.
 *
 * Pure: no fs, no network.
 */
import { AppError } from '../errors.js';
import type { Json } from './json.js';
import type { Dialect } from './model.js';

const encoder = new TextEncoder();

/** How one dialect writes strings and orders object keys. */
interface Style {
  quote(s: string): string;
  sortKeys(keys: string[]): string[];
}

/**
 * tuf-js sorts keys with `Array.prototype.sort()`, i.e. by UTF-16 code units. That differs from
 * UTF-8 byte (= code point) order only when two keys differ first at a position where one holds an
 * astral character and the other a character in U+E000–U+FFFF; real root keys are ASCII. We follow
 * tuf-js, since its output is what spec-dialect clients in this project's tests verify against.
 */
function sortUtf16(keys: string[]): string[] {
  return [...keys].sort();
}

/** Code point order, which is the same as UTF-8 byte order (jsoncpp's std::map, Go's sort.Strings). */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i) ?? 0;
    const cb = b.codePointAt(i) ?? 0;
    if (ca !== cb) return ca < cb ? -1 : 1;
    if (ca > 0xffff) i++; // both hold the same surrogate pair: skip its second unit
  }
  return a.length - b.length;
}

function sortUtf8(keys: string[]): string[] {
  return [...keys].sort(compareUtf8);
}

/** OLPC: only `"` and `\` are escaped, everything else is written raw. */
function quoteMinimal(s: string): string {
  if (!s.includes('\\') && !s.includes('"')) return '"' + s + '"';
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

const FIOCTL_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Foundries' docker/go fork in canonical mode (`canonical/json/encode.go` at a487d04): `"` `\` LF CR
 * TAB as two-character escapes; every other character (other control characters, DEL, `<>&`,
 * non-ASCII, U+2028/2029) raw.
 */
function quoteFioctl(s: string): string {
  return '"' + s.replace(/["\\\n\r\t]/g, (c) => FIOCTL_ESCAPES[c] ?? c) + '"';
}

function hex4(unit: number): string {
  return '\\u' + unit.toString(16).padStart(4, '0');
}

/** jsoncpp 1.9.3 `valueToQuotedStringN` with emitUTF8 false. The result is pure ASCII. */
function quoteDevice(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    switch (c) {
      case 0x22:
        out += '\\"';
        break;
      case 0x5c:
        out += '\\\\';
        break;
      case 0x08:
        out += '\\b';
        break;
      case 0x0c:
        out += '\\f';
        break;
      case 0x0a:
        out += '\\n';
        break;
      case 0x0d:
        out += '\\r';
        break;
      case 0x09:
        out += '\\t';
        break;
      default:
        // Other control characters and every code point >= 0x80 as \u escapes of their UTF-16
        // units (an astral character becomes its surrogate pair), lowercase hex. DEL and `/` raw.
        if (c < 0x20 || c >= 0x80) out += hex4(c);
        else out += s[i];
    }
  }
  return out + '"';
}

const SPEC: Style = { quote: quoteMinimal, sortKeys: sortUtf16 };
const DEVICE: Style = { quote: quoteDevice, sortKeys: sortUtf8 };
const FIOCTL: Style = { quote: quoteFioctl, sortKeys: sortUtf8 };

/** `signed.keys["a b"]`-style path of a member. */
export function childPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  const part = /^[A-Za-z0-9_-]+$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  if (base === '') return part.startsWith('[') ? `$${part}` : part;
  return part.startsWith('[') ? base + part : `${base}.${part}`;
}

function where(path: string): string {
  return path === '' ? 'the top-level value' : path;
}

function notCanonical(path: string, what: string): AppError {
  return new AppError(
    'ROOT_NOT_CANONICALIZABLE',
    `${where(path)} ${what}, which canonical JSON cannot represent`,
    'Root metadata may hold only strings, integers (within ±2^53), booleans, null, arrays and objects; fix that field and try again.',
  );
}

/** A lone surrogate has no UTF-8 encoding: the verifiers would each read it differently. */
function hasLoneSurrogate(s: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

/**
 * The path of the value being written, built only when an error names it: `base` plus the keys
 * and indexes in `at` (building it for every member was a tenth of a chain verification).
 */
function pathOf(base: string, at: (string | number)[]): string {
  return at.reduce<string>((p, k) => childPath(p, k), base);
}

function write(value: unknown, style: Style, base: string, at: (string | number)[], out: string[]): void {
  if (value === null) {
    out.push('null');
  } else if (typeof value === 'boolean') {
    out.push(value ? 'true' : 'false');
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw notCanonical(pathOf(base, at), `is ${String(value)}`);
    if (!Number.isInteger(value)) throw notCanonical(pathOf(base, at), `is the non-integer number ${String(value)}`);
    if (!Number.isSafeInteger(value)) throw notCanonical(pathOf(base, at), 'is an integer outside the safe range ±(2^53 − 1)');
    out.push(String(value)); // String(-0) is "0", as JSON.stringify writes it
  } else if (typeof value === 'string') {
    if (hasLoneSurrogate(value)) throw notCanonical(pathOf(base, at), 'contains an unpaired UTF-16 surrogate');
    out.push(style.quote(value));
  } else if (Array.isArray(value)) {
    out.push('[');
    value.forEach((item: unknown, i) => {
      if (i > 0) out.push(',');
      at.push(i);
      write(item, style, base, at, out);
      at.pop();
    });
    out.push(']');
  } else if (typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    out.push('{');
    let first = true;
    for (const key of style.sortKeys(Object.keys(obj))) {
      at.push(key);
      if (hasLoneSurrogate(key)) throw notCanonical(pathOf(base, at), 'contains an unpaired UTF-16 surrogate');
      if (!first) out.push(',');
      first = false;
      out.push(style.quote(key), ':');
      write(obj[key], style, base, at, out);
      at.pop();
    }
    out.push('}');
  } else {
    throw notCanonical(pathOf(base, at), `is ${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`}`);
  }
}

function render(value: Json, style: Style, path: string): Uint8Array {
  const out: string[] = [];
  write(value, style, path, [], out);
  return encoder.encode(out.join(''));
}

/**
 * OLPC canonical JSON: keys sorted (UTF-16 order, as tuf-js), no whitespace, strings escape only
 * `"` and `\`, integers only. `path` names the value in error messages (e.g. `signed`).
 */
export function canonicalSpec(value: Json, path = ''): Uint8Array {
  return render(value, SPEC, path);
}

/**
 * libaktualizr's form (jsoncpp 1.9.3): compact, keys sorted by UTF-8 bytes, `"` `\` `\b` `\f` `\n`
 * `\r` `\t` as two-character escapes, other control characters and every non-ASCII UTF-16 unit as
 * `\u00xx` (lowercase hex), `/` and DEL raw.
 */
export function canonicalDevice(value: Json, path = ''): Uint8Array {
  return render(value, DEVICE, path);
}

/**
 * fioctl's form (Foundries' docker/go fork, `MarshalCanonical`): keys sorted by UTF-8 bytes, `"` `\`
 * `\n` `\r` `\t` escaped, every other character raw UTF-8. Equal to the device's form for printable
 * ASCII plus LF, CR and TAB (so for RSA PEM keys too).
 */
export function canonicalFioctl(value: Json, path = ''): Uint8Array {
  return render(value, FIOCTL, path);
}

/** What gets signed: the device's form for Foundries roots, OLPC canonical JSON for spec roots. */
export function canonicalBytes(dialect: Dialect, signed: Json): Uint8Array {
  return dialect === 'foundries' ? canonicalDevice(signed, 'signed') : canonicalSpec(signed, 'signed');
}

/** Every character in 0x20–0x7E (the only strings on which all Foundries byte forms agree). */
export function isPrintableAscii(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

/**
 * JSON paths of every string (object keys included) with a character outside 0x20–0x7E, in document
 * order. `path` is the name of `value` (e.g. `signed`). Callers exempt RSA PEM public keys themselves.
 */
export function nonAsciiStrings(value: Json, path = ''): string[] {
  const found = new Set<string>();
  const visit = (v: Json, p: string): void => {
    if (typeof v === 'string') {
      if (!isPrintableAscii(v)) found.add(p === '' ? '$' : p);
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => visit(item, childPath(p, i)));
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        const cp = childPath(p, k);
        if (!isPrintableAscii(k)) found.add(cp);
        visit(item, cp);
      }
    }
  };
  visit(value, path);
  return [...found];
}
