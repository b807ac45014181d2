/**
 * RFC 7512 `pkcs11:` URIs: which token and which key. Pure (no module, no I/O).
 *
 * `pkcs11:token=tuf-root;object=root-2026;id=%01?module-path=/usr/lib/softhsm/libsofthsm2.so`
 *
 * Path attributes are separated by `;`, query attributes by `&`; values are percent-encoded UTF-8
 * (`id` is raw bytes). Unknown or repeated attributes are refused, so a typo never selects a
 * different key. `pin-value` is refused outright: a PIN in a URI ends up in shell history, process
 * lists and logs. The PIN comes from `--pin-file`, a terminal prompt or the page's PIN field.
 */
import { AppError } from '../errors.js';

const PATH_ATTRS = [
  'token',
  'manufacturer',
  'model',
  'serial',
  'object',
  'type',
  'id',
  'slot-description',
  'slot-id',
  'slot-manufacturer',
  'library-description',
  'library-manufacturer',
  'library-version',
] as const;
const QUERY_ATTRS = ['module-path', 'module-name', 'pin-source'] as const;
const OBJECT_TYPES = ['private', 'public', 'cert', 'secret-key', 'data'] as const;

export interface Pkcs11Uri {
  /** Token label (CKA token info `label`, blank padding trimmed). */
  token?: string;
  manufacturer?: string;
  model?: string;
  serial?: string;
  /** Object label (CKA_LABEL). */
  object?: string;
  type?: (typeof OBJECT_TYPES)[number];
  /** CKA_ID bytes. */
  id?: Uint8Array;
  slotId?: number;
  modulePath?: string;
  moduleName?: string;
  /** `file:` path of a PIN file (RFC 7512 §2.3); never the PIN itself. */
  pinSource?: string;
}

function bad(uri: string, why: string): AppError {
  // The URI is echoed only after pin-value was ruled out (see below), so it holds no secret.
  return new AppError('PKCS11_URI_INVALID', `The PKCS#11 URI ${uri} is not valid: ${why}.`, 'Write it as pkcs11:token=LABEL;object=KEY-LABEL (RFC 7512), for example pkcs11:token=tuf-root;object=root-2026.');
}

function decode(uri: string, name: string, raw: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] ?? '';
    if (c === '%') {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw bad(uri, `"${name}" has a "%" not followed by two hex digits`);
      out.push(parseInt(hex, 16));
      i += 2;
    } else if (/[A-Za-z0-9\-._~:[\]@!$'()*+,=/ |]/.test(c) || c === '&' || c === '?' || c === ';') {
      // RFC 3986 pchar plus what RFC 7512 allows unescaped in values; the separators were split off already.
      out.push(...Buffer.from(c, 'utf8'));
    } else if (c.charCodeAt(0) > 0x7f) {
      out.push(...Buffer.from(c, 'utf8'));
    } else {
      throw bad(uri, `"${name}" holds the character ${JSON.stringify(c)}, which must be percent-encoded`);
    }
  }
  return new Uint8Array(out);
}

function text(uri: string, name: string, raw: string): string {
  const bytes = decode(uri, name, raw);
  const s = Buffer.from(bytes).toString('utf8');
  if (!Buffer.from(s, 'utf8').equals(Buffer.from(bytes))) throw bad(uri, `"${name}" is not valid UTF-8`);
  return s;
}

/** Parses a `pkcs11:` URI; throws PKCS11_URI_INVALID naming the attribute at fault. */
export function parsePkcs11Uri(uri: string): Pkcs11Uri {
  if (!/^pkcs11:/i.test(uri)) throw new AppError('PKCS11_URI_INVALID', 'A PKCS#11 key must be named by a pkcs11: URI.', 'Write it as pkcs11:token=LABEL;object=KEY-LABEL (RFC 7512).');
  if (/[?&]pin-value=/i.test(uri)) {
    // Never echo this URI: it carries a PIN.
    throw new AppError(
      'PKCS11_URI_INVALID',
      'The PKCS#11 URI carries pin-value, a PIN in plain text; tuf-rotate does not accept a PIN there.',
      'Remove pin-value from the URI and give the PIN with --pin-file FILE, at the terminal prompt, or in the page.',
    );
  }
  const body = uri.slice('pkcs11:'.length);
  const q = body.indexOf('?');
  const pathPart = q === -1 ? body : body.slice(0, q);
  const queryPart = q === -1 ? '' : body.slice(q + 1);
  const out: Pkcs11Uri = {};
  const seen = new Set<string>();
  const take = (part: string, allowed: readonly string[], sep: string): void => {
    if (part === '') return;
    for (const item of part.split(sep)) {
      if (item === '') throw bad(uri, `it has an empty attribute (two "${sep}" in a row)`);
      const eq = item.indexOf('=');
      if (eq <= 0) throw bad(uri, `"${item}" is not NAME=VALUE`);
      const name = item.slice(0, eq).toLowerCase();
      const raw = item.slice(eq + 1);
      if (name.startsWith('x-')) continue; // vendor attributes: allowed, ignored
      if (!allowed.includes(name)) throw bad(uri, `"${name}" is not a ${sep === ';' ? 'path' : 'query'} attribute of RFC 7512`);
      if (seen.has(name)) throw bad(uri, `"${name}" is given twice`);
      seen.add(name);
      assign(uri, out, name, raw);
    }
  };
  take(pathPart, PATH_ATTRS, ';');
  take(queryPart, QUERY_ATTRS, '&');
  return out;
}

function assign(uri: string, out: Pkcs11Uri, name: string, raw: string): void {
  switch (name) {
    case 'token':
      out.token = text(uri, name, raw);
      return;
    case 'manufacturer':
      out.manufacturer = text(uri, name, raw);
      return;
    case 'model':
      out.model = text(uri, name, raw);
      return;
    case 'serial':
      out.serial = text(uri, name, raw);
      return;
    case 'object':
      out.object = text(uri, name, raw);
      return;
    case 'type': {
      const t = text(uri, name, raw);
      if (!(OBJECT_TYPES as readonly string[]).includes(t)) throw bad(uri, `type must be one of ${OBJECT_TYPES.join(', ')}`);
      if (t !== 'private') throw bad(uri, 'a signing key is a private key, so type can only be "private"');
      out.type = t as Pkcs11Uri['type'];
      return;
    }
    case 'id': {
      const id = decode(uri, name, raw);
      if (id.length === 0) throw bad(uri, 'id is empty');
      out.id = id;
      return;
    }
    case 'slot-id': {
      const t = text(uri, name, raw);
      if (!/^\d{1,10}$/.test(t)) throw bad(uri, 'slot-id must be a decimal number');
      out.slotId = Number(t);
      return;
    }
    case 'module-path':
      out.modulePath = text(uri, name, raw);
      if (!out.modulePath.startsWith('/')) throw bad(uri, 'module-path must be an absolute path');
      return;
    case 'module-name':
      out.moduleName = text(uri, name, raw);
      return;
    case 'pin-source': {
      const t = text(uri, name, raw);
      const file = t.startsWith('file:') ? t.replace(/^file:(\/\/)?/, '') : t;
      if (!file.startsWith('/')) throw bad(uri, 'pin-source must be an absolute file path (file:/path/to/pin)');
      out.pinSource = file;
      return;
    }
    default:
      // slot-description, slot-manufacturer, library-*: accepted as filters we do not need.
      text(uri, name, raw);
  }
}

function enc(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The URI in a fixed order, as written to archives and records. It never holds a PIN. */
export function formatPkcs11Uri(u: Pkcs11Uri): string {
  const p: string[] = [];
  if (u.token !== undefined) p.push(`token=${enc(u.token)}`);
  if (u.manufacturer !== undefined) p.push(`manufacturer=${enc(u.manufacturer)}`);
  if (u.model !== undefined) p.push(`model=${enc(u.model)}`);
  if (u.serial !== undefined) p.push(`serial=${enc(u.serial)}`);
  if (u.slotId !== undefined) p.push(`slot-id=${u.slotId}`);
  if (u.object !== undefined) p.push(`object=${enc(u.object)}`);
  if (u.id !== undefined) p.push(`id=${[...u.id].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('')}`);
  p.push('type=private');
  const q: string[] = [];
  if (u.modulePath !== undefined) q.push(`module-path=${encodeURI(u.modulePath)}`);
  if (u.moduleName !== undefined) q.push(`module-name=${enc(u.moduleName)}`);
  return `pkcs11:${p.join(';')}${q.length > 0 ? `?${q.join('&')}` : ''}`;
}

/** True when a `--keys` / `--new-key` value names a token key rather than a file. */
export function isPkcs11Uri(s: string): boolean {
  return /^pkcs11:/i.test(s);
}
