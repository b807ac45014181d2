import assert from 'node:assert/strict';
import { createPublicKey, constants, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { canonicalize } from '@tufjs/canonical-json';
import fc from 'fast-check';
import {
  canonicalBytes,
  canonicalDevice,
  canonicalFioctl,
  canonicalSpec,
  compareUtf8,
  isPrintableAscii,
  nonAsciiStrings,
} from '../../../server/tuf/canonical-json.js';
import type { Json, JsonObject } from '../../../server/tuf/json.js';
import { SHARED_FIXTURES, assertAppError } from '../../helpers/assert-app-error.js';

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

function fixture(rel: string): JsonObject {
  return JSON.parse(readFileSync(new URL(rel, SHARED_FIXTURES), 'utf8')) as JsonObject;
}

function signedOf(doc: JsonObject): JsonObject {
  return doc.signed as JsonObject;
}

function sigsOf(doc: JsonObject): { keyid: string; sig: string }[] {
  return doc.signatures as unknown as { keyid: string; sig: string }[];
}

/** A verifying key straight from a key object, with node:crypto only (independent of keys.ts). */
function publicKeyFromJson(key: JsonObject): { key: KeyObject; kind: 'rsa' | 'ed25519' | 'ecdsa' } {
  const keytype = String(key.keytype).toLowerCase();
  const pub = String((key.keyval as JsonObject).public);
  if (keytype === 'ed25519') {
    const der = Buffer.from('302a300506032b6570032100' + pub, 'hex');
    return { key: createPublicKey({ key: der, format: 'der', type: 'spki' }), kind: 'ed25519' };
  }
  if (pub.startsWith('-----BEGIN')) {
    return { key: createPublicKey(pub), kind: keytype === 'rsa' ? 'rsa' : 'ecdsa' };
  }
  // Early sigstore roots: ECDSA P-256 public key as a hex uncompressed point.
  const der = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200' + pub, 'hex');
  return { key: createPublicKey({ key: der, format: 'der', type: 'spki' }), kind: 'ecdsa' };
}

function verifies(keyJson: JsonObject, data: Uint8Array, sig: Buffer): boolean {
  const { key, kind } = publicKeyFromJson(keyJson);
  if (kind === 'ed25519') return verify(null, data, key, sig);
  if (kind === 'ecdsa') return verify('sha256', data, key, sig);
  return verify('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
}

/** Verifies every non-empty signature whose key is in the document's own keys; returns the count. */
function verifyOwnSignatures(doc: JsonObject, bytes: Uint8Array, encoding: 'hex' | 'base64'): { ok: number; bad: number } {
  const keys = signedOf(doc).keys as JsonObject;
  let ok = 0;
  let bad = 0;
  for (const s of sigsOf(doc)) {
    const k = keys[s.keyid];
    if (s.sig === '' || k === undefined) continue;
    if (verifies(k as JsonObject, bytes, Buffer.from(s.sig, encoding))) ok++;
    else bad++;
  }
  return { ok, bad };
}

// ------------------------------------------------------------------------------------------------

const specialChars = fc.constantFrom(
  '"', '\\', '/', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u0001', '\u001f', '\u007f', '\u0080',
  'é', '€', '\u2028', '\ufeff', '\uffff', '😀', '𝄞', 'a', 'Z', ' ', '0',
);
const anyString = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.string({ unit: specialChars, maxLength: 12 }),
);
const leaf: fc.Arbitrary<Json> = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(0, -0, 1, -1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
  fc.boolean(),
  fc.constant(null),
  anyString,
);
const { json: jsonArb } = fc.letrec<{ json: Json; obj: JsonObject; arr: Json[] }>((tie) => ({
  json: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('obj'), tie('arr')),
  obj: fc.dictionary(anyString, tie('json'), { maxKeys: 6 }),
  arr: fc.array(tie('json'), { maxLength: 5 }),
}));
const objectArb = fc.dictionary(anyString, jsonArb, { maxKeys: 8 });

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 16 });
const { json: asciiJsonArb } = fc.letrec<{ json: Json; obj: JsonObject; arr: Json[] }>((tie) => ({
  json: fc.oneof({ depthSize: 'small' }, fc.maxSafeInteger(), fc.boolean(), fc.constant(null), printable, tie('obj'), tie('arr')),
  obj: fc.dictionary(printable, tie('json'), { maxKeys: 6 }),
  arr: fc.array(tie('json'), { maxLength: 5 }),
}));

describe('canonicalSpec', () => {
  it('equals @tufjs/canonical-json byte for byte on 3,000 generated objects', () => {
    fc.assert(
      fc.property(objectArb, (v) => {
        assert.deepEqual(Buffer.from(canonicalSpec(v)), Buffer.from(canonicalize(v), 'utf8'));
      }),
      { numRuns: 3000 },
    );
  });

  it('sorts keys in UTF-16 order like tuf-js (astral before U+FFFF)', () => {
    const v = { '\uffff': 1, '😀': 2, z: 3, é: 4, '': 5 };
    assert.equal(text(canonicalSpec(v)), '{"":5,"z":3,"é":4,"😀":2,"\uffff":1}');
    assert.equal(text(canonicalSpec(v)), canonicalize(v));
  });

  it('escapes only quote and backslash and writes every other character raw', () => {
    assert.equal(text(canonicalSpec(['a"b\\c\n\t\u0001/é😀'])), '["a\\"b\\\\c\n\t\u0001/é😀"]');
    assert.equal(text(canonicalSpec({ a: [], b: {}, c: null, d: true, e: -0, f: -12 })), '{"a":[],"b":{},"c":null,"d":true,"e":0,"f":-12}');
  });
});

describe('canonicalDevice', () => {
  it('writes jsoncpp 1.9.3 escapes: short ones, \\u00xx for controls, lowercase \\uxxxx above 0x7f', () => {
    const s = 'q"b\\/\b\f\n\r\t\u0000\u0001\u001f\u007f~é€\uFFFF😀';
    assert.equal(
      text(canonicalDevice({ s })),
      '{"s":"q\\"b\\\\/\\b\\f\\n\\r\\t\\u0000\\u0001\\u001f\u007f~\\u00e9\\u20ac\\uffff\\ud83d\\ude00"}',
    );
  });

  it('sorts keys by UTF-8 bytes (U+FFFF before astral), escaping keys too', () => {
    const v = { '\uffff': 1, '😀': 2, z: 3, é: 4, Z: 5, '': 6 };
    assert.equal(text(canonicalDevice(v)), '{"":6,"Z":5,"z":3,"\\u00e9":4,"\\uffff":1,"\\ud83d\\ude00":2}');
  });

  it('is compact and pure ASCII on any input', () => {
    fc.assert(
      fc.property(objectArb, (v) => {
        const b = canonicalDevice(v);
        assert.ok(b.every((x) => x >= 0x20 && x <= 0x7f));
        // It is still JSON that means the same value (up to -0, which JSON.parse keeps as 0).
        assert.deepEqual(JSON.parse(text(b)), JSON.parse(JSON.stringify(v)));
      }),
      { numRuns: 500 },
    );
  });
});

describe('canonicalFioctl', () => {
  it('escapes quote, backslash, LF, CR and TAB (Foundries’ docker/go fork); all else raw; sorts by UTF-8 bytes', () => {
    const v = { '\uffff': 'é\n\r\t\b\f\u0001\u007f<>&\u2028', '😀': 2, a: 'x"\\y' };
    assert.equal(text(canonicalFioctl(v)), '{"a":"x\\"\\\\y","\uffff":"é\\n\\r\\t\b\f\u0001\u007f<>&\u2028","😀":2}');
  });

  it('writes a PEM key’s newlines as \\n, as the fork does (foundries-operations.md §1 C1)', () => {
    const pem = '-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n';
    assert.equal(text(canonicalFioctl({ public: pem })), '{"public":"-----BEGIN PUBLIC KEY-----\\nMIIB\\n-----END PUBLIC KEY-----\\n"}');
  });

  it('equals the device’s form on printable ASCII with LF, CR and TAB (so on RSA PEM keys)', () => {
    const chars = [...Array.from({ length: 0x5f }, (_, i) => String.fromCharCode(0x20 + i)), '\n', '\r', '\t'];
    const str = fc.array(fc.constantFrom(...chars), { maxLength: 40 }).map((a) => a.join(''));
    fc.assert(
      fc.property(fc.dictionary(str, fc.oneof(str, fc.array(str, { maxLength: 4 }))), (v) => {
        assert.deepEqual(Buffer.from(canonicalFioctl(v)), Buffer.from(canonicalDevice(v)));
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with the other two forms on printable-ASCII values', () => {
    fc.assert(
      fc.property(asciiJsonArb, (v) => {
        const spec = Buffer.from(canonicalSpec(v));
        assert.deepEqual(Buffer.from(canonicalDevice(v)), spec);
        assert.deepEqual(Buffer.from(canonicalFioctl(v)), spec);
      }),
      { numRuns: 500 },
    );
  });
});

describe('compareUtf8', () => {
  it('orders like the UTF-8 bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        const expected = Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
        assert.equal(Math.sign(compareUtf8(a, b)), expected);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('non-canonicalizable values', () => {
  const cases: [string, Json, string][] = [
    ['a float', { version: 1.5 }, 'signed.version'],
    ['NaN', { a: [1, Number.NaN] }, 'signed.a[1]'],
    ['Infinity', { roles: { root: { threshold: Number.POSITIVE_INFINITY } } }, 'signed.roles.root.threshold'],
    ['2^53', { version: 2 ** 53 }, 'signed.version'],
    ['a lone surrogate', { 'x-changelog': { message: 'a\ud800' } }, 'signed.x-changelog.message'],
    ['a lone surrogate in a key', { keys: { '\udc00': 1 } }, 'signed.keys["\\udc00"]'],
  ];
  for (const [name, value, path] of cases) {
    it(`refuses ${name}, naming ${path}`, async () => {
      for (const dialect of ['foundries', 'spec'] as const) {
        const e = await assertAppError(() => canonicalBytes(dialect, value), 'ROOT_NOT_CANONICALIZABLE');
        assert.ok(e.message.includes(path), e.message);
      }
      await assertAppError(() => canonicalFioctl(value), 'ROOT_NOT_CANONICALIZABLE');
    });
  }

  it('refuses undefined members and names the top level when no path is given', async () => {
    await assertAppError(() => canonicalSpec({ a: undefined } as unknown as Json), 'ROOT_NOT_CANONICALIZABLE');
    const e = await assertAppError(() => canonicalDevice(0.5), 'ROOT_NOT_CANONICALIZABLE');
    assert.match(e.message, /top-level/);
  });
});

describe('canonicalBytes against real signatures', () => {
  it('root-v1 (RSA-4096, RSASSA-PSS) verifies over the device form, which is also fioctl’s form', () => {
    const doc = fixture('foundries/root-v1.json');
    const signed = signedOf(doc);
    const device = canonicalBytes('foundries', signed);
    assert.deepEqual(device, canonicalDevice(signed));
    assert.deepEqual(verifyOwnSignatures(doc, device, 'base64'), { ok: 1, bad: 0 });
    // fioctl's docker/go fork escapes the PEM newlines just as the device does (§1 C1).
    const fioctl = canonicalFioctl(signed);
    assert.deepEqual(Buffer.from(fioctl), Buffer.from(device));
    assert.deepEqual(verifyOwnSignatures(doc, fioctl, 'base64'), { ok: 1, bad: 0 });
  });

  it('root-v2 verifies with both the Ed25519 key and the old RSA key over the device form', () => {
    const v1 = fixture('foundries/root-v1.json');
    const v2 = fixture('foundries/root-v2.json');
    const bytes = canonicalBytes('foundries', signedOf(v2));
    const keys = { ...(signedOf(v1).keys as JsonObject), ...(signedOf(v2).keys as JsonObject) };
    const kinds = new Set<string>();
    for (const s of sigsOf(v2)) {
      const k = keys[s.keyid] as JsonObject;
      assert.ok(verifies(k, bytes, Buffer.from(s.sig, 'base64')), `signature by ${s.keyid}`);
      kinds.add(String(k.keytype));
    }
    assert.deepEqual([...kinds].sort(), ['ED25519', 'RSA']);
    // v2 holds only Ed25519 keys and printable ASCII: device and fioctl bytes are the same.
    assert.deepEqual(nonAsciiStrings(signedOf(v2), 'signed'), []);
    assert.deepEqual(Buffer.from(canonicalFioctl(signedOf(v2))), Buffer.from(bytes));
  });

  it('the production roots and garage-sign roots verify over the device form', () => {
    for (const f of ['foundries/root-v1.prod.json', 'foundries/garage-sign/root-v1.json']) {
      const doc = fixture(f);
      const r = verifyOwnSignatures(doc, canonicalBytes('foundries', signedOf(doc)), 'base64');
      assert.ok(r.ok >= 1 && r.bad === 0, `${f}: ${JSON.stringify(r)}`);
    }
  });

  it('the go-tuf Ed25519 root verifies over canonicalSpec', () => {
    const doc = fixture('go-tuf-ed25519-root.v1.json');
    assert.deepEqual(verifyOwnSignatures(doc, canonicalBytes('spec', signedOf(doc)), 'hex'), { ok: 1, bad: 0 });
  });

  it('every sigstore root signature by a key of its own root verifies over canonicalSpec', () => {
    const dir = new URL('sigstore-root-chain/', SHARED_FIXTURES);
    const files = readdirSync(dir).filter((f) => f.endsWith('.root.json'));
    assert.equal(files.length, 15);
    for (const f of files) {
      const doc = fixture(`sigstore-root-chain/${f}`);
      const signed = signedOf(doc);
      const bytes = canonicalSpec(signed);
      assert.equal(text(bytes), canonicalize(signed));
      const r = verifyOwnSignatures(doc, bytes, 'hex');
      assert.ok(r.ok >= 3 && r.bad === 0, `${f}: ${JSON.stringify(r)}`);
    }
  });
});

describe('isPrintableAscii and nonAsciiStrings', () => {
  it('accepts 0x20–0x7e only', () => {
    assert.ok(isPrintableAscii(' ~abc'));
    assert.ok(isPrintableAscii(''));
    for (const s of ['\n', '\t', '\u007f', 'é', '😀', '\u001f']) assert.ok(!isPrintableAscii(s), JSON.stringify(s));
  });

  it('lists the path of every offending string and key', () => {
    const v: Json = {
      keys: { abc: { keytype: 'RSA', keyval: { public: '-----BEGIN PUBLIC KEY-----\nAAAA\n' } } },
      'x-changelog': { message: 'Rotación', 'polis-id': 'ok' },
      list: ['ok', 'tab\t'],
      'k é': 'ok',
    };
    assert.deepEqual(nonAsciiStrings(v, 'signed'), [
      'signed.keys.abc.keyval.public',
      'signed.x-changelog.message',
      'signed.list[1]',
      'signed["k é"]',
    ]);
    assert.deepEqual(nonAsciiStrings('\n'), ['$']);
  });

  it('finds exactly the RSA PEM in root-v1', () => {
    const signed = signedOf(fixture('foundries/root-v1.json'));
    const paths = nonAsciiStrings(signed, 'signed');
    assert.equal(paths.length, 1);
    assert.match(paths[0] ?? '', /^signed\.keys\.[0-9a-f]{64}\.keyval\.public$/);
  });
});
