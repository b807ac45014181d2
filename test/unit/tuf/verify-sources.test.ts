/**
 * Whose rule each verifier line is (#14): device (libaktualizr), Foundries API, TUF specification
 * clients (tuf-js, python-tuf), strict clients (tough), and the matrix that ends every report; the
 * device's `expires` format and the API's own rules; chains that end in an expired root (#13).
 */
import assert from 'node:assert/strict';
import { constants, createHash, createPrivateKey, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { matrixLine } from '../../../shared/verifiers.js';
import { canonicalDevice } from '../../../server/tuf/canonical-json.js';
import { isJsonObject, type Json, type JsonObject } from '../../../server/tuf/json.js';
import { parseRoot } from '../../../server/tuf/metadata.js';
import type { Root, RuleId, RuleResult, RuleSource, VerifyReport } from '../../../server/tuf/model.js';
import { rsaPssSaltLength } from '../../../server/tuf/pss-salt.js';
import { verifyRootUpdate, verifySelfSigned } from '../../../server/tuf/verify.js';
import { verifyChain } from '../../../server/tuf/verify/chain.js';
import { FIXTURES } from '../../helpers/assert-app-error.js';
import { readTgz } from './keys-fixtures.js';

const NOW = new Date('2026-11-23T00:00:00Z');

function readJson(rel: string): JsonObject {
  const v = JSON.parse(readFileSync(new URL(rel, FIXTURES), 'utf8')) as Json;
  assert.ok(isJsonObject(v));
  return v;
}
const fixtureRoot = (rel: string): Root => parseRoot(readJson(rel), rel);
const ruleOf = (r: VerifyReport, id: RuleId): RuleResult | undefined => r.results.find((x) => x.rule === id);
const failing = (r: VerifyReport): RuleId[] => r.results.filter((x) => x.status === 'fail').map((x) => x.rule);
const verdicts = (r: { matrix: { verdict: string }[] }): string[] => r.matrix.map((m) => m.verdict);

// ---------------------------------------------------------------------------------------------
// Generated Foundries roots: one Ed25519 key holds every role; signed over the device's bytes.

const ed = generateKeyPairSync('ed25519');
const edPublic = (ed.publicKey.export({ format: 'der', type: 'spki' }) as Buffer).subarray(12).toString('hex');
const edId = createHash('sha256').update(ed.publicKey.export({ format: 'der', type: 'spki' })).digest('hex');

function foundriesRoot(version: number, edit?: (signed: JsonObject) => void, expires = '2030-01-01T00:00:00Z'): Root {
  const role = { keyids: [edId], threshold: 1 };
  const signed: JsonObject = {
    _type: 'Root',
    consistent_snapshot: false,
    expires,
    keys: { [edId]: { keytype: 'ED25519', keyval: { public: edPublic } } },
    roles: { root: role, targets: role, snapshot: role, timestamp: role },
    version,
  };
  edit?.(signed);
  const sig = cryptoSign(null, canonicalDevice(signed), ed.privateKey).toString('base64');
  return parseRoot({ signatures: [{ keyid: edId, method: 'ed25519', sig }], signed });
}

const V1 = foundriesRoot(1);

// ---------------------------------------------------------------------------------------------

describe('every rule names its source', () => {
  const SPEC_SOURCES: RuleSource[] = ['spec-clients', 'strict-clients'];
  const FOUNDRIES_SOURCES: RuleSource[] = ['device', 'foundries-api', 'fioctl'];

  it('Foundries results name only libaktualizr, the Foundries API, fioctl or tuf-rotate', () => {
    for (const report of [
      verifyRootUpdate(fixtureRoot('foundries/root-v1.json'), fixtureRoot('foundries/root-v2.json'), { now: NOW }),
      verifySelfSigned(fixtureRoot('foundries/root-v1.json'), { now: NOW }),
    ]) {
      for (const r of report.results) {
        assert.ok(r.sources.length > 0, r.rule);
        assert.ok(r.sources.every((s) => [...FOUNDRIES_SOURCES, 'tuf-rotate'].includes(s)), `${r.rule}: ${r.sources.join()}`);
      }
    }
  });

  it('spec results name only tuf-js/python-tuf, tough or tuf-rotate', () => {
    const report = verifyRootUpdate(fixtureRoot('sigstore-root-chain/10.root.json'), fixtureRoot('sigstore-root-chain/11.root.json'), { now: NOW, checkExpiry: false });
    for (const r of report.results) {
      assert.ok(r.sources.length > 0, r.rule);
      assert.ok(r.sources.every((s) => [...SPEC_SOURCES, 'tuf-rotate'].includes(s)), `${r.rule}: ${r.sources.join()}`);
    }
  });

  it('names the source of each rule as the dialect docs say', () => {
    const f = verifyRootUpdate(fixtureRoot('foundries/root-v1.json'), fixtureRoot('foundries/root-v2.json'), { now: NOW });
    const sourcesOf = (r: VerifyReport, id: RuleId): RuleSource[] | undefined => ruleOf(r, id)?.sources;
    assert.deepEqual(sourcesOf(f, 'version'), ['device', 'foundries-api']);
    assert.deepEqual(sourcesOf(f, 'expires-format'), ['device', 'foundries-api']);
    assert.deepEqual(sourcesOf(f, 'key-types'), ['device', 'foundries-api']);
    assert.deepEqual(sourcesOf(f, 'api-key-form'), ['foundries-api']);
    assert.deepEqual(sourcesOf(f, 'api-fields'), ['foundries-api']);
    assert.deepEqual(sourcesOf(f, 'signatures-unique'), ['device']); // ota-tuf keeps the last (cases.json)
    assert.deepEqual(sourcesOf(f, 'distinct-keys'), ['tuf-rotate']);
    assert.deepEqual(sourcesOf(f, 'canonical-ascii'), ['tuf-rotate']);
    const s = verifyRootUpdate(fixtureRoot('sigstore-root-chain/10.root.json'), fixtureRoot('sigstore-root-chain/11.root.json'), { now: NOW, checkExpiry: false });
    assert.deepEqual(sourcesOf(s, 'keyid-hash'), ['strict-clients']);
    assert.deepEqual(sourcesOf(s, 'threshold-old'), ['spec-clients', 'strict-clients']);
    assert.deepEqual(sourcesOf(s, 'signatures-unique'), ['spec-clients']);
  });

  it('a duplicate signature: libaktualizr refuses, the Foundries API accepts (cases.json)', () => {
    const r = verifyChain(fixtureRoot('foundries/root-v1.json'), [fixtureRoot('foundries/cases/duplicate-signature.json')], { now: NOW });
    assert.deepEqual(verdicts(r), ['refuses', 'accepts', 'not-applicable', 'not-applicable']);
    assert.match(r.matrix[0]?.reasons[0] ?? '', /signs twice/);
  });

  it('a threshold met only by counting one key twice is tuf-rotate’s refusal, not the clients’', () => {
    const alias = 'ef'.repeat(32);
    const v2 = foundriesRoot(2, (s) => {
      (s.keys as JsonObject)[alias] = { keytype: 'ED25519', keyval: { public: edPublic } };
      (s.roles as JsonObject).root = { keyids: [edId, alias], threshold: 2 };
    });
    // Sign a second time under the alias: devices count two key IDs, we count one key.
    const doc = { signed: v2.signedJson, signatures: [...v2.signatures.map((x) => x.json), { ...v2.signatures[0]?.json, keyid: alias }] } as JsonObject;
    const report = verifyRootUpdate(V1, parseRoot(doc), { now: NOW });
    assert.deepEqual(failing(report), ['thresholds-reachable', 'distinct-keys', 'threshold-new']);
    for (const id of ['thresholds-reachable', 'distinct-keys', 'threshold-new'] as const) assert.deepEqual(ruleOf(report, id)?.sources, ['tuf-rotate'], id);
    assert.deepEqual(verdicts(report), ['accepts', 'accepts', 'not-applicable', 'not-applicable']);
    assert.equal(report.ok, false);
  });
});

describe('the matrix agrees with cases.json: what libaktualizr and the server do with each case', () => {
  interface Case {
    name: string;
    trusted: string;
    chain: string[];
    device: string;
    server: string;
  }
  const cases = JSON.parse(readFileSync(new URL('foundries/cases.json', FIXTURES), 'utf8')) as Case[];
  // type-targets is refused when parsed (ROOT_DIALECT_UNKNOWN), before any rule runs.
  for (const c of cases.filter((x) => x.name !== 'type-targets')) {
    it(`${c.name}: device ${c.device}, server ${c.server}`, () => {
      const r = verifyChain(fixtureRoot(`foundries/${c.trusted}`), c.chain.map((f) => fixtureRoot(`foundries/${f}`)), { now: NOW });
      const [device, api, spec, strict] = verdicts(r);
      assert.equal(device, c.device === 'accept' ? 'accepts' : 'refuses', 'libaktualizr');
      // Upstream ota-tuf does not check expiry on upload; the Foundries API refuses a root whose
      // expires is not later than now ("too low expires", foundries-operations.md §6.3, 22).
      const server = c.name === 'expired' ? 'refuses' : c.server.startsWith('accept') ? 'accepts' : 'refuses';
      assert.equal(api, server, 'Foundries API');
      assert.deepEqual([spec, strict], ['not-applicable', 'not-applicable']);
    });
  }
});

describe('the device’s expires format (Foundries)', () => {
  for (const expires of ['2030-01-01T00:00:00.5Z', '2030-01-01T01:00:00+01:00', '2030-01-01T00:00:00.000Z']) {
    it(`refuses ${expires}: libaktualizr reads only YYYY-MM-DDTHH:MM:SSZ`, () => {
      const report = verifyRootUpdate(V1, foundriesRoot(2, undefined, expires), { now: NOW });
      assert.deepEqual(failing(report), ['expires-format']);
      const r = ruleOf(report, 'expires-format');
      assert.ok(r?.sources.includes('device'));
      assert.match(r?.message ?? '', /libaktualizr refuses/);
      assert.equal(report.matrix[0]?.verdict, 'refuses');
      assert.match(report.matrix[0]?.reasons[0] ?? '', /not YYYY-MM-DDTHH:MM:SSZ/);
    });
  }

  it('passes exactly YYYY-MM-DDTHH:MM:SSZ, and is no rule of the spec dialect (sigstore v1 has a fraction and an offset)', () => {
    assert.equal(ruleOf(verifyRootUpdate(V1, foundriesRoot(2), { now: NOW }), 'expires-format')?.status, 'pass');
    const s = verifySelfSigned(fixtureRoot('sigstore-root-chain/1.root.json'), { now: NOW, checkExpiry: false });
    assert.equal(ruleOf(s, 'expires-format'), undefined);
  });
});

describe('the Foundries API’s rules: a warning in verify, a failure before publishing to a Factory', () => {
  const cases: [string, (s: JsonObject) => void, RegExp][] = [
    ['an unknown field in signed', (s) => (s['x-extra'] = 'hello'), /unknown fields signed\.x-extra/],
    ['an unknown role', (s) => ((s.roles as JsonObject).mirrors = { keyids: [edId], threshold: 1 }), /unknown role signed\.roles\.mirrors/],
    ['a role with an extra field', (s) => (((s.roles as JsonObject).targets as JsonObject).paths = []), /signed\.roles\.targets\.paths/],
    ['an x-changelog with an extra field', (s) => (s['x-changelog'] = { message: 'm', 'polis-id': 'p', timestamp: '2026-01-01T00:00:00Z', ticket: '1' }), /x-changelog\.ticket/],
    ['an x-key-owners entry with an extra field', (s) => (s['x-key-owners'] = { [edId]: { 'created-at': '2026-01-01T00:00:00Z', 'polis-id': 'p', email: 'e' } }), /email/],
  ];
  for (const [what, edit, message] of cases) {
    it(`api-fields: ${what}`, () => {
      const root = foundriesRoot(2, edit);
      const plain = verifyRootUpdate(V1, root, { now: NOW });
      assert.ok(plain.ok, what);
      const r = ruleOf(plain, 'api-fields');
      assert.equal(r?.status, 'warn');
      assert.deepEqual(r?.sources, ['foundries-api']);
      assert.match(r?.message ?? '', message);
      assert.deepEqual(verdicts(plain), ['accepts', 'refuses', 'not-applicable', 'not-applicable']);
      const factory = verifyRootUpdate(V1, root, { now: NOW, factory: true });
      assert.deepEqual(failing(factory), ['api-fields']);
      assert.match(ruleOf(factory, 'api-fields')?.message ?? '', /cannot be published there/);
    });
  }

  it('api-fields passes the fields the API models (root-v2: x-changelog, x-key-owners)', () => {
    const r = verifyRootUpdate(fixtureRoot('foundries/root-v1.json'), fixtureRoot('foundries/root-v2.json'), { now: NOW, factory: true });
    assert.ok(r.ok);
    assert.equal(ruleOf(r, 'api-fields')?.status, 'pass');
    assert.deepEqual(verdicts(r), ['accepts', 'accepts', 'not-applicable', 'not-applicable']);
  });
});

describe('rsa-pss-salt: devices accept any salt, the Foundries API only 32', () => {
  const doc = readJson('foundries/root-v1.json');
  const signed = doc.signed as JsonObject;
  const keyid = String(((doc.signatures as JsonObject[])[0] as JsonObject).keyid);
  const sec = JSON.parse(readTgz('foundries/offline-keys.v1.tgz').get('tufrepo/keys/first-root.sec')?.toString('utf8') ?? '{}') as {
    keyval: { private: string };
  };
  const priv: KeyObject = createPrivateKey(sec.keyval.private);
  const bytes = canonicalDevice(signed);
  const pssSign = (saltLength: number): Buffer => cryptoSign('sha256', bytes, { key: priv, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
  const withSalt = (saltLength: number): Root =>
    parseRoot({ signatures: [{ keyid, method: 'rsassa-pss-sha256', sig: pssSign(saltLength).toString('base64') }], signed });
  const key = fixtureRoot('foundries/root-v1.json').keys[keyid];
  assert.ok(key !== undefined);
  const spkiDer = new Uint8Array(Buffer.from(key.public.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'));

  it('reads the salt length of a signature: 32 in the fixture, 0 and 478 when signed so', () => {
    const fixtureSig = Buffer.from(String(((doc.signatures as JsonObject[])[0] as JsonObject).sig), 'base64');
    assert.equal(rsaPssSaltLength(spkiDer, 4096, bytes, fixtureSig), 32);
    assert.equal(rsaPssSaltLength(spkiDer, 4096, bytes, pssSign(0)), 0);
    assert.equal(rsaPssSaltLength(spkiDer, 4096, bytes, pssSign(478)), 478);
    assert.equal(rsaPssSaltLength(spkiDer, 4096, new Uint8Array([1, 2, 3]), fixtureSig), undefined, 'other data');
    assert.equal(rsaPssSaltLength(spkiDer, 4096, bytes, Buffer.alloc(512, 7)), undefined, 'garbage');
  });

  it('salt 478: libaktualizr accepts · Foundries API refuses (RSA-PSS salt 478, needs 32)', () => {
    const plain = verifySelfSigned(withSalt(478), { now: NOW });
    assert.ok(plain.ok);
    const r = ruleOf(plain, 'rsa-pss-salt');
    assert.equal(r?.status, 'warn');
    assert.deepEqual(r?.sources, ['foundries-api']);
    assert.match(r?.message ?? '', /salt length 478/);
    assert.equal(ruleOf(plain, 'threshold-new')?.status, 'pass', 'the device counts the signature');
    assert.equal(
      matrixLine(plain.matrix, plain.dialect),
      'libaktualizr: accepts · Foundries API: refuses (RSA-PSS salt 478, needs 32) · tuf-js/python-tuf: not applicable (a Foundries root) · tough: not applicable (a Foundries root)',
    );
    const factory = verifySelfSigned(withSalt(478), { now: NOW, factory: true });
    assert.deepEqual(failing(factory), ['rsa-pss-salt']);
  });

  it('salt 32 passes', () => {
    const r = verifySelfSigned(withSalt(32), { now: NOW, factory: true });
    assert.ok(r.ok);
    assert.equal(ruleOf(r, 'rsa-pss-salt')?.status, 'pass');
  });
});

describe('chains: the matrix over every step, and a chain that ends in an expired root', () => {
  const sigstore = Array.from({ length: 15 }, (_, i) => fixtureRoot(`sigstore-root-chain/${i + 1}.root.json`));
  const [first, ...rest] = sigstore;
  assert.ok(first !== undefined);
  const last = sigstore[14] as Root;
  const before = new Date(last.expiresAt.getTime() - 24 * 3600 * 1000);
  const after = new Date(last.expiresAt.getTime() + 1000);

  it('before version 15 expires: tuf-js/python-tuf accept, tough refuses the key ID of version 11', () => {
    const r = verifyChain(first, rest, { now: before });
    assert.ok(r.ok);
    assert.equal(r.expired, undefined);
    assert.equal(r.dialect, 'spec');
    assert.deepEqual(verdicts(r), ['not-applicable', 'not-applicable', 'accepts', 'refuses']);
    assert.deepEqual(r.matrix[3]?.reasons, ['v11 key ID 7247f0db is not the hash of its key']);
  });

  it('after it expires: every version verifies, the last one expired — not a broken chain', () => {
    const r = verifyChain(first, rest, { now: after });
    assert.equal(r.ok, false);
    assert.deepEqual(r.expired, { version: 15, expires: last.expires });
    assert.equal(r.failedAt, 15);
    assert.deepEqual(verdicts(r), ['not-applicable', 'not-applicable', 'refuses', 'refuses']);
    assert.match(r.matrix[2]?.reasons.join() ?? '', /version 15 expired on 2026-11-20/);
  });

  it('a broken signature is not reported as an expiry', () => {
    const doc = readJson('sigstore-root-chain/15.root.json');
    (doc.signed as JsonObject).version = 15;
    (doc.signed as JsonObject).expires = '2020-01-01T00:00:00Z';
    const r = verifyChain(first, [...rest.slice(0, 13), parseRoot(doc)], { now: after });
    assert.equal(r.ok, false);
    assert.equal(r.expired, undefined);
  });

  it('an empty chain checks the trusted root’s expiry', () => {
    const old = foundriesRoot(1, undefined, '2026-01-01T00:00:00Z');
    const r = verifyChain(old, [], { now: NOW });
    assert.equal(r.ok, false);
    assert.deepEqual(r.expired, { version: 1, expires: '2026-01-01T00:00:00Z' });
    assert.equal(verifyChain(old, [], { now: new Date('2025-12-01T00:00:00Z') }).ok, true);
  });
});
