import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Json, JsonObject } from '../../../server/tuf/json.js';
import {
  MAX_ROOT_BYTES,
  algorithmOf,
  jsonErrorOffset,
  detectDialect,
  formatExpires,
  foundriesSignedFields,
  parseExpires,
  parseRoot,
  serializeRoot,
  toDocument,
} from '../../../server/tuf/metadata.js';
import { SHARED_FIXTURES, assertAppError } from '../../helpers/assert-app-error.js';

function read(rel: string): string {
  return readFileSync(new URL(rel, SHARED_FIXTURES), 'utf8');
}

function json(rel: string): JsonObject {
  return JSON.parse(read(rel)) as JsonObject;
}

const sigstoreFiles = readdirSync(new URL('sigstore-root-chain/', SHARED_FIXTURES))
  .filter((f) => f.endsWith('.root.json'))
  .sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
const caseFiles = readdirSync(new URL('foundries/cases/', SHARED_FIXTURES)).filter((f) => f.endsWith('.json'));

describe('parseRoot on real fixtures', () => {
  const foundries = [
    'foundries/root-v1.json',
    'foundries/root-v2.json',
    'foundries/root-v1.prod.json',
    'foundries/root-v2.prod.json',
    'foundries/garage-sign/root-v1.json',
    'foundries/garage-sign/root-v2.json',
  ];

  it('parses every Foundries root', () => {
    for (const f of foundries) {
      const r = parseRoot(read(f), f);
      assert.equal(r.dialect, 'foundries', f);
      assert.equal(r.type, 'Root');
      assert.equal(r.specVersion, undefined);
      assert.equal(r.consistentSnapshot, false);
      for (const role of ['root', 'targets', 'snapshot', 'timestamp']) assert.ok(r.roles[role], `${f} ${role}`);
      for (const s of r.signatures) assert.ok(s.method === 'ed25519' || s.method === 'rsassa-pss-sha256');
      for (const k of Object.values(r.keys)) assert.ok(k.algorithm === 'rsa' || k.algorithm === 'ed25519');
      assert.equal(r.expiresAt.toISOString().slice(0, 19) + 'Z', r.expires);
    }
  });

  it('reads root-v1 and root-v2 field by field', () => {
    const v1 = parseRoot(new TextEncoder().encode(read('foundries/root-v1.json')));
    assert.equal(v1.version, 1);
    const rootKeyId = v1.roles.root?.keyids[0] ?? '';
    assert.equal(v1.keys[rootKeyId]?.keytype, 'RSA');
    assert.equal(v1.keys[rootKeyId]?.scheme, undefined);
    assert.match(v1.keys[rootKeyId]?.public ?? '', /^-----BEGIN PUBLIC KEY-----\n/);
    assert.equal(v1.changelog, undefined);
    assert.equal(v1.keyOwners, undefined);

    const doc = json('foundries/root-v2.json');
    const v2 = parseRoot(doc);
    assert.equal(v2.version, 2);
    assert.deepEqual(v2.signedJson, doc.signed);
    assert.notEqual(v2.signedJson, doc.signed, 'an object input is copied, not shared');
    assert.equal(v2.signatures.length, 2);
    assert.deepEqual(v2.signatures.map((s) => s.json), doc.signatures);
    const x = (doc.signed as JsonObject)['x-changelog'] as JsonObject;
    assert.deepEqual(v2.changelog, { polisId: x['polis-id'], message: x.message, timestamp: x.timestamp });
    const owners = (doc.signed as JsonObject)['x-key-owners'] as Record<string, JsonObject>;
    assert.ok(v2.keyOwners);
    for (const [id, o] of Object.entries(owners)) {
      assert.deepEqual(v2.keyOwners[id], { polisId: o['polis-id'], createdAt: o['created-at'] });
    }
  });

  it('parses every Foundries edge case except the one that is not a root', async () => {
    assert.equal(caseFiles.length, 14);
    for (const f of caseFiles) {
      const text = read(`foundries/cases/${f}`);
      if (f === 'type-targets.json') {
        const e = await assertAppError(() => parseRoot(text, f), 'ROOT_DIALECT_UNKNOWN');
        assert.match(e.message, /"Targets"/);
        continue;
      }
      const r = parseRoot(text, f);
      assert.equal(r.dialect, 'foundries', f);
    }
    // Shape-valid oddities are the verifier's to judge, not the parser's.
    assert.equal(parseRoot(read('foundries/cases/threshold-zero.json')).roles.root?.threshold, 0);
    const unknown = parseRoot(read('foundries/cases/unknown-keytype.json'));
    assert.ok(Object.values(unknown.keys).some((k) => k.keytype === 'ECPRIME256V1' && k.algorithm === undefined));
    const dup = parseRoot(read('foundries/cases/duplicate-signature.json'));
    assert.equal(new Set(dup.signatures.map((s) => s.keyid)).size, dup.signatures.length - 1);
  });

  it('parses the go-tuf root and all 15 sigstore roots', () => {
    const go = parseRoot(read('go-tuf-ed25519-root.v1.json'));
    assert.equal(go.dialect, 'spec');
    assert.equal(go.specVersion, '1.0');
    assert.ok(Object.values(go.keys).every((k) => k.algorithm === 'ed25519'));

    assert.equal(sigstoreFiles.length, 15);
    sigstoreFiles.forEach((f, i) => {
      const r = parseRoot(read(`sigstore-root-chain/${f}`), f);
      assert.equal(r.dialect, 'spec');
      assert.equal(r.version, i + 1);
      assert.equal(r.roles.root?.threshold, 3);
      assert.ok(Object.values(r.keys).every((k) => k.algorithm === 'ecdsa'), f);
    });
    const v12 = parseRoot(read('sigstore-root-chain/12.root.json'));
    assert.equal(v12.signatures.filter((s) => s.sig === '').length, 2, 'empty signature slots are kept');
    const keytypes = (f: string): string[] => [...new Set(Object.values(parseRoot(read(f)).keys).map((k) => k.keytype))];
    assert.deepEqual(keytypes('sigstore-root-chain/8.root.json'), ['ecdsa-sha2-nistp256']);
    assert.deepEqual(keytypes('sigstore-root-chain/9.root.json'), ['ecdsa']);
  });

  it('reads sigstore v1 expires (fraction and -06:00 offset) as the right instant', () => {
    const r = parseRoot(read('sigstore-root-chain/1.root.json'));
    assert.equal(r.expires, '2021-12-18T13:28:12.99008-06:00');
    assert.equal(r.expiresAt.toISOString(), '2021-12-18T19:28:12.990Z');
    const v2 = parseRoot(read('sigstore-root-chain/2.root.json'));
    assert.equal(v2.expiresAt.toISOString(), '2022-05-11T19:09:02.663Z');
  });
});

describe('round trip', () => {
  it('keeps every unknown field of a spec root (x-tuf-on-ci-*, keyid_hash_algorithms)', () => {
    for (const f of ['sigstore-root-chain/1.root.json', 'sigstore-root-chain/12.root.json', 'sigstore-root-chain/15.root.json', 'go-tuf-ed25519-root.v1.json']) {
      const original = json(f);
      const r = parseRoot(original);
      const text = serializeRoot(toDocument(r.signedJson, r.signatures.map((s) => s.json)));
      assert.ok(text.endsWith('}\n'));
      assert.ok(text.includes('\n  "signatures": [\n'), '2-space indentation');
      const again = parseRoot(text);
      assert.deepEqual(again.signedJson, original.signed);
      assert.deepEqual(again.signatures.map((s) => s.json), original.signatures);
    }
    const v12 = parseRoot(read('sigstore-root-chain/12.root.json'));
    assert.equal(v12.signedJson['x-tuf-on-ci-expiry-period'], 197);
    assert.ok(Object.values(v12.keys).some((k) => typeof k.json['x-tuf-on-ci-keyowner'] === 'string'));
    const v1 = parseRoot(read('sigstore-root-chain/1.root.json'));
    assert.ok(Object.values(v1.keys).every((k) => Array.isArray(k.json.keyid_hash_algorithms)));
  });

  it('serializes a Foundries root exactly as the fixture is written', () => {
    const text = read('foundries/root-v2.json');
    const r = parseRoot(text);
    assert.equal(serializeRoot(toDocument(r.signedJson, r.signatures.map((s) => s.json))), text);
  });
});

describe('bad roots', () => {
  const base = json('foundries/root-v1.json');
  const spec = json('go-tuf-ed25519-root.v1.json');

  /** A copy of `doc` with `edit` applied to its signed part (or to the whole document). */
  function mutate(doc: JsonObject, edit: (signed: JsonObject, doc: JsonObject) => void): JsonObject {
    const copy = structuredClone(doc);
    edit(copy.signed as JsonObject, copy);
    return copy;
  }
  const roles = (s: JsonObject): JsonObject => s.roles as JsonObject;
  const firstKey = (s: JsonObject): JsonObject => Object.values(s.keys as JsonObject)[0] as JsonObject;

  const fieldCases: [string, JsonObject, string][] = [
    ['version 0', mutate(base, (s) => { s.version = 0; }), 'signed.version'],
    ['version as a string', mutate(base, (s) => { s.version = '2'; }), 'signed.version'],
    ['version 1.5', mutate(base, (s) => { s.version = 1.5; }), 'signed.version'],
    ['missing expires', mutate(base, (s) => { delete s.expires; }), 'signed.expires'],
    ['expires not a date', mutate(base, (s) => { s.expires = '2030-02-30T00:00:00Z'; }), 'signed.expires'],
    ['expires without zone', mutate(base, (s) => { s.expires = '2030-01-01T00:00:00'; }), 'signed.expires'],
    ['keys an array', mutate(base, (s) => { s.keys = []; }), 'signed.keys'],
    ['key without keytype', mutate(base, (s) => { delete firstKey(s).keytype; }), '.keytype'],
    ['key without keyval', mutate(base, (s) => { delete firstKey(s).keyval; }), '.keyval'],
    ['keyval.public a number', mutate(base, (s) => { firstKey(s).keyval = { public: 7 }; }), '.keyval.public'],
    ['scheme a number', mutate(spec, (s) => { firstKey(s).scheme = 1; }), '.scheme'],
    ['roles missing timestamp', mutate(base, (s) => { delete roles(s).timestamp; }), 'signed.roles.timestamp'],
    ['threshold a string', mutate(base, (s) => { (roles(s).root as JsonObject).threshold = '1'; }), 'signed.roles.root.threshold'],
    ['threshold 1.5', mutate(base, (s) => { (roles(s).targets as JsonObject).threshold = 1.5; }), 'signed.roles.targets.threshold'],
    ['keyids not an array', mutate(base, (s) => { (roles(s).snapshot as JsonObject).keyids = 'abc'; }), 'signed.roles.snapshot.keyids'],
    ['keyid a number', mutate(base, (s) => { (roles(s).root as JsonObject).keyids = [1]; }), 'signed.roles.root.keyids[0]'],
    ['consistent_snapshot a string', mutate(base, (s) => { s.consistent_snapshot = 'false'; }), 'signed.consistent_snapshot'],
    ['spec root without spec_version', mutate(spec, (s) => { delete s.spec_version; }), 'signed.spec_version'],
    ['signature without sig', mutate(base, (_s, d) => { delete ((d.signatures as Json[])[0] as JsonObject).sig; }), 'signatures[0].sig'],
    ['signature a string', mutate(base, (_s, d) => { d.signatures = ['abc']; }), 'signatures[0]'],
    ['signature keyid null', mutate(base, (_s, d) => { ((d.signatures as Json[])[0] as JsonObject).keyid = null; }), 'signatures[0].keyid'],
    ['method a number', mutate(base, (_s, d) => { ((d.signatures as Json[])[0] as JsonObject).method = 5; }), 'signatures[0].method'],
    ['x-changelog message a number', mutate(base, (s) => { s['x-changelog'] = { message: 1 }; }), 'signed.x-changelog.message'],
    ['x-key-owners entry a string', mutate(base, (s) => { s['x-key-owners'] = { abc: 'x' }; }), 'signed.x-key-owners.abc'],
  ];
  for (const [name, doc, path] of fieldCases) {
    it(`ROOT_FIELD_INVALID: ${name} (names ${path})`, async () => {
      const e = await assertAppError(() => parseRoot(JSON.stringify(doc), 'bad.json'), 'ROOT_FIELD_INVALID');
      assert.ok(e.message.includes(path), e.message);
      assert.ok(e.message.startsWith('bad.json: '), e.message);
    });
  }

  it('names the key ID in key errors', async () => {
    const id = Object.keys((base.signed as JsonObject).keys as JsonObject)[0] ?? '';
    const doc = mutate(base, (s) => { delete firstKey(s).keytype; });
    const e = await assertAppError(() => parseRoot(doc), 'ROOT_FIELD_INVALID');
    assert.ok(e.message.includes(`signed.keys.${id}.keytype`), e.message);
  });

  it('ROOT_DIALECT_UNKNOWN quotes the _type found', async () => {
    const e = await assertAppError(() => parseRoot(mutate(base, (s) => { s._type = 'Targets'; })), 'ROOT_DIALECT_UNKNOWN');
    assert.match(e.message, /"Targets"/);
    const e2 = await assertAppError(() => parseRoot(mutate(base, (s) => { delete s._type; })), 'ROOT_DIALECT_UNKNOWN');
    assert.match(e2.message, /no _type/);
  });

  it('ROOT_INVALID when signed or signatures are missing or of the wrong kind', async () => {
    for (const doc of ['[]', '"root"', '{}', '{"signed":{}}', '{"signed":[],"signatures":[]}', '{"signed":{},"signatures":{}}']) {
      await assertAppError(() => parseRoot(doc), 'ROOT_INVALID');
    }
  });

  it('JSON_INVALID gives the position and never quotes the input', async () => {
    const secret = '{"signed": {"x": SECRETKEYMATERIAL}}';
    const e = await assertAppError(() => parseRoot(secret, 'r.json'), 'JSON_INVALID');
    assert.match(e.message, /line 1, column 18/);
    assert.ok(!e.message.includes('SECRET'), e.message);
    const e2 = await assertAppError(() => parseRoot('{\n  "signed": {', 'r.json'), 'JSON_INVALID');
    assert.match(e2.message, /^r\.json is not valid JSON/);
    await assertAppError(() => parseRoot(new Uint8Array([0x7b, 0xff, 0x7d])), 'JSON_INVALID');
  });

  it('finds the error position V8 reports, on 3,000 damaged roots', () => {
    const text = read('sigstore-root-chain/12.root.json').slice(0, 3000);
    const unit = fc.constantFrom('"', '\\', '{', '}', '[', ']', ',', ':', 'x', '1', '0', '.', 'E', '+', '-', ' ', '\n', '\u0001', 'u', 'a');
    let compared = 0;
    fc.assert(
      fc.property(fc.nat(2999), fc.nat(5), fc.string({ unit, maxLength: 3 }), (pos, del, ins) => {
        const t = text.slice(0, pos) + ins + text.slice(pos + del);
        let message: string | undefined;
        try {
          JSON.parse(t);
        } catch (e) {
          message = (e as Error).message;
        }
        const mine = jsonErrorOffset(t);
        const m = message === undefined ? null : /position (\d+)/.exec(message);
        if (m) {
          assert.equal(mine, Number(m[1]), message);
          compared++;
        }
      }),
      { numRuns: 3000 },
    );
    assert.ok(compared > 1000);
  });

  it('ROOT_TOO_LARGE above 1 MiB, for text, bytes and objects', async () => {
    const big = mutate(base, (s) => { s['x-pad'] = 'a'.repeat(MAX_ROOT_BYTES); });
    const text = JSON.stringify(big);
    await assertAppError(() => parseRoot(text), 'ROOT_TOO_LARGE');
    await assertAppError(() => parseRoot(new TextEncoder().encode(text)), 'ROOT_TOO_LARGE');
    await assertAppError(() => parseRoot(big), 'ROOT_TOO_LARGE');
  });

  it('accepts a byte-order mark', () => {
    assert.equal(parseRoot('\ufeff' + read('foundries/root-v1.json')).version, 1);
    assert.equal(parseRoot(new TextEncoder().encode('\ufeff' + read('foundries/root-v1.json'))).version, 1);
  });
});

describe('detectDialect', () => {
  it('reads _type from a document or its signed part', async () => {
    assert.equal(detectDialect(json('foundries/root-v1.json')), 'foundries');
    assert.equal(detectDialect(json('go-tuf-ed25519-root.v1.json')), 'spec');
    assert.equal(detectDialect({ _type: 'root' }), 'spec');
    await assertAppError(() => detectDialect({ _type: 'ROOT' }), 'ROOT_DIALECT_UNKNOWN');
    await assertAppError(() => detectDialect(null), 'ROOT_DIALECT_UNKNOWN');
  });
});

describe('expires', () => {
  it('parses RFC 3339 with fractions, offsets and lower-case letters', () => {
    assert.equal(parseExpires('2030-01-01T00:00:00Z').toISOString(), '2030-01-01T00:00:00.000Z');
    assert.equal(parseExpires('2021-12-18T13:28:12.99008-06:00').toISOString(), '2021-12-18T19:28:12.990Z');
    assert.equal(parseExpires('2024-02-29t23:30:00.5+05:30').toISOString(), '2024-02-29T18:00:00.500Z');
    assert.equal(parseExpires('0099-01-01T00:00:00Z').getUTCFullYear(), 99);
  });

  it('refuses what is not RFC 3339', async () => {
    for (const s of ['2023-02-29T00:00:00Z', '2030-13-01T00:00:00Z', '2030-01-01T24:00:00Z', '2030-01-01 00:00:00Z', '2030-01-01T00:00:00', '1700000000', '']) {
      await assertAppError(() => parseExpires(s), 'ROOT_FIELD_INVALID');
    }
  });

  it('formats as YYYY-MM-DDTHH:MM:SSZ', async () => {
    assert.equal(formatExpires(new Date('2031-03-04T05:06:07.999Z')), '2031-03-04T05:06:07Z');
    assert.equal(formatExpires(parseExpires('2021-12-18T13:28:12.99008-06:00')), '2021-12-18T19:28:12Z');
    await assertAppError(() => formatExpires(new Date(Number.NaN)), 'ROOT_FIELD_INVALID');
  });
});

describe('algorithmOf', () => {
  it('maps both dialects\' key types', () => {
    assert.equal(algorithmOf('RSA', undefined), 'rsa');
    assert.equal(algorithmOf('rsa', 'rsassa-pss-sha256'), 'rsa');
    assert.equal(algorithmOf('ED25519', undefined), 'ed25519');
    assert.equal(algorithmOf('ed25519', 'ed25519'), 'ed25519');
    assert.equal(algorithmOf('ecdsa', 'ecdsa-sha2-nistp256'), 'ecdsa');
    assert.equal(algorithmOf('ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp256'), 'ecdsa');
    assert.equal(algorithmOf('ecdsa-sha2-nistp256', undefined), 'ecdsa');
  });

  it('returns undefined for what we cannot verify', () => {
    assert.equal(algorithmOf('ECPRIME256V1', undefined), undefined);
    assert.equal(algorithmOf('Rsa', undefined), undefined);
    assert.equal(algorithmOf('rsa', 'rsa-pkcs1v15-sha256'), undefined);
    assert.equal(algorithmOf('ecdsa', 'ecdsa-sha2-nistp384'), undefined);
    assert.equal(algorithmOf('ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp384'), undefined);
  });
});

describe('foundriesSignedFields', () => {
  it('keeps exactly fioctl\'s fields', () => {
    const signed = structuredClone(json('foundries/root-v2.json').signed as JsonObject);
    const expected = structuredClone(signed);
    const k = Object.values(signed.keys as JsonObject)[0] as JsonObject;
    k.scheme = 'ed25519';
    (k.keyval as JsonObject).private = 'nope';
    (signed.roles as JsonObject).root = { ...((signed.roles as JsonObject).root as JsonObject), paths: ['x'] };
    signed.spec_version = '1.0';
    signed['x-other'] = 1;
    (signed['x-changelog'] as JsonObject).extra = 'x';
    const owners = signed['x-key-owners'] as Record<string, JsonObject>;
    for (const o of Object.values(owners)) o.extra = 'x';
    assert.deepEqual(foundriesSignedFields(signed), expected);
  });

  it('adds consistent_snapshot false and drops empty x-key-owners', () => {
    const signed = structuredClone(json('foundries/root-v1.json').signed as JsonObject);
    delete signed.consistent_snapshot;
    signed['x-key-owners'] = {};
    signed['x-changelog'] = { message: 'm' };
    const out = foundriesSignedFields(signed);
    assert.equal(out.consistent_snapshot, false);
    assert.ok(!('x-key-owners' in out));
    assert.deepEqual(out['x-changelog'], { message: 'm' });
    assert.deepEqual(Object.keys(out), ['_type', 'consistent_snapshot', 'expires', 'keys', 'roles', 'version', 'x-changelog']);
  });

  it('returns a copy', () => {
    const signed = json('foundries/root-v1.json').signed as JsonObject;
    const out = foundriesSignedFields(signed);
    ((out.roles as JsonObject).root as JsonObject).threshold = 9;
    assert.equal(((signed.roles as JsonObject).root as JsonObject).threshold, 1);
  });
});
