import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Metadata, MetadataKind } from '@tufjs/models';
import { canonicalBytes } from '../../../server/tuf/canonical-json.js';
import { isJsonObject, type Json, type JsonObject } from '../../../server/tuf/json.js';
import { keyIdSpec } from '../../../server/tuf/public-key.js';
import { parseRoot } from '../../../server/tuf/metadata.js';
import type { Dialect, Root, RuleId, RuleResult, VerifyReport } from '../../../server/tuf/model.js';
import { verifyRootUpdate, verifySelfSigned } from '../../../server/tuf/verify.js';
import { expiryWarning, verifyChain } from '../../../server/tuf/verify/chain.js';
import { SHARED_FIXTURES } from '../../helpers/assert-app-error.js';

const NOW = new Date('2026-11-23T00:00:00Z');
const FOUNDRIES = new URL('foundries/', SHARED_FIXTURES);
const SIGSTORE = new URL('sigstore-root-chain/', SHARED_FIXTURES);

function readJson(url: URL): JsonObject {
  const v = JSON.parse(readFileSync(url, 'utf8')) as Json;
  assert.ok(isJsonObject(v));
  return v;
}

/**
 * parseRoot refuses a `_type` that names no root (ROOT_DIALECT_UNKNOWN), so a document whose
 * `_type` is wrong is parsed with the root type and then given its real `signed` back: that lets
 * the verifier's own `type` rule be tested on the exact bytes the fixture signed.
 */
function load(doc: JsonObject, source?: string): Root {
  const signed = doc.signed;
  assert.ok(isJsonObject(signed));
  const t = signed._type;
  if (t === 'Root' || t === 'root') return parseRoot(doc, source);
  const rootType = typeof t === 'string' && t.charAt(0) === t.charAt(0).toUpperCase() ? 'Root' : 'root';
  const parsed = parseRoot({ ...doc, signed: { ...signed, _type: rootType } }, source);
  return { ...parsed, type: String(t), signedJson: signed };
}

const loadFoundries = (name: string): Root => load(readJson(new URL(name, FOUNDRIES)), name);
const sigstoreDoc = (v: number): JsonObject => readJson(new URL(`${v}.root.json`, SIGSTORE));

const failing = (r: VerifyReport): RuleId[] => r.results.filter((x) => x.status === 'fail').map((x) => x.rule);
const ruleOf = (r: VerifyReport, id: RuleId): RuleResult | undefined => r.results.find((x) => x.rule === id);

/** No message may carry key material: only (short) key IDs. */
function assertNoKeyMaterial(r: VerifyReport, roots: Root[]): void {
  for (const res of r.results) {
    assert.ok(!res.message.includes('BEGIN'), res.message);
    for (const root of roots) {
      for (const key of Object.values(root.keys)) {
        const body = key.public.replace(/-----[A-Z ]+-----/g, '').replace(/\s/g, '');
        if (body.length >= 32) assert.ok(!res.message.includes(body.slice(0, 24)), `${res.rule} message holds key material`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

interface Case {
  name: string;
  trusted: string;
  chain: string[];
  expect: 'accept' | 'reject';
  why: string;
}

/** The rule each rejection's `why` names in cases.json (undefined: accepted). */
const CASE_RULE: Record<string, RuleId | undefined> = {
  'ok-new-then-old': undefined,
  'ok-old-then-new': undefined,
  'only-new-key': 'threshold-old', // old root's threshold unmet
  'only-old-key': 'threshold-new', // new root's own threshold unmet
  'duplicate-signature': 'signatures-unique', // same keyid twice -> NonUniqueSignatures
  'extra-unknown-keyid': undefined, // signatures by unknown key ids are skipped
  'version-skip': 'version', // version must be exactly N+1
  'version-same': 'version',
  'type-targets': 'type', // _type must name the root role
  expired: 'expiry', // the final root is expired
  'unknown-keytype': 'key-types', // any keytype other than RSA/ED25519 rejects the whole root
  'root-threshold-2': undefined,
  'root-threshold-2-one-sig': 'threshold-new', // threshold 2 of the NEW root unmet
  'threshold-zero': 'thresholds-reachable', // threshold must be 1..1000
};

/** Rules that fail besides the named one. */
const ALSO_FAILS: Record<string, RuleId[]> = {
  // Only the new key signed, so the old root's threshold is unmet as well.
  'root-threshold-2-one-sig': ['threshold-old'],
};

describe('verifyChain on the Foundries edge cases (cases.json)', () => {
  const cases = JSON.parse(readFileSync(new URL('cases.json', FOUNDRIES), 'utf8')) as Case[];

  it('has a rule for every case in the fixture', () => {
    assert.deepEqual(cases.map((c) => c.name).sort(), Object.keys(CASE_RULE).sort());
  });

  for (const c of cases) {
    it(`${c.expect}s ${c.name} (${c.why})`, () => {
      const trusted = loadFoundries(c.trusted);
      const chain = c.chain.map(loadFoundries);
      const report = verifyChain(trusted, chain, { now: NOW });
      const rule = CASE_RULE[c.name];
      assert.equal(report.ok, c.expect === 'accept');
      assert.equal(rule === undefined, c.expect === 'accept', 'the table and cases.json agree');
      const last = report.steps.at(-1);
      assert.ok(last !== undefined);
      assertNoKeyMaterial(last, [trusted, ...chain]);
      if (rule === undefined) {
        assert.equal(report.failedAt, undefined);
        assert.equal(report.finalVersion, chain.at(-1)?.version);
        assert.deepEqual(failing(last), []);
      } else {
        assert.equal(report.failedAt, chain[0]?.version);
        assert.equal(report.finalVersion, trusted.version);
        assert.ok(failing(last).includes(rule), `${rule} fails`);
        assert.deepEqual(failing(last).sort(), [rule, ...(ALSO_FAILS[c.name] ?? [])].sort(), 'and nothing else fails');
      }
    });
  }
});

describe('verifyRootUpdate on real Foundries roots', () => {
  it('accepts root-v1 → root-v2 and the production chain', () => {
    for (const [a, b] of [
      ['root-v1.json', 'root-v2.json'],
      ['root-v1.prod.json', 'root-v2.prod.json'],
      ['garage-sign/root-v1.json', 'garage-sign/root-v2.json'],
    ] as const) {
      const report = verifyRootUpdate(loadFoundries(a), loadFoundries(b), { now: NOW });
      assert.deepEqual(failing(report), [], `${a} → ${b}`);
      assert.ok(report.ok);
      assert.equal(report.dialect, 'foundries');
    }
  });

  it('lists every Foundries rule in checklist order', () => {
    const report = verifyRootUpdate(loadFoundries('root-v1.json'), loadFoundries('cases/root-threshold-2.json'), { now: NOW });
    assert.deepEqual(
      report.results.map((r) => r.rule),
      [
        'type',
        'version',
        'expiry',
        'expires-format',
        'roles-complete',
        'role-keys-present',
        'thresholds-reachable',
        'distinct-keys',
        'signatures-unique',
        'signature-methods',
        'key-types',
        'api-key-form',
        'api-fields',
        'canonical-ascii',
        'size',
        'threshold-old',
        'threshold-new',
        'rsa-pss-salt',
        'fioctl-form',
      ],
    );
    assert.ok(report.results.every((r) => r.version === 2 && r.message.length > 0));
    assert.match(ruleOf(report, 'size')?.message ?? '', /compact JSON/);
  });

  it('verifies the self-signed root-v1 and says fioctl’s byte form is the device’s for its RSA key', () => {
    const report = verifySelfSigned(loadFoundries('root-v1.json'), { now: NOW });
    assert.ok(report.ok);
    assert.equal(ruleOf(report, 'version'), undefined);
    assert.equal(ruleOf(report, 'threshold-old'), undefined);
    assert.equal(ruleOf(report, 'threshold-new')?.status, 'pass');
    // root-v1 is signed over the device's form, where the PEM newlines are escaped; fioctl's
    // docker/go fork escapes them too (foundries-operations.md §1 C1), so the bytes are the same.
    assert.equal(ruleOf(report, 'fioctl-form')?.status, 'info');
    assert.match(ruleOf(report, 'fioctl-form')?.message ?? '', /identical/);
    assert.deepEqual(ruleOf(report, 'fioctl-form')?.sources, ['fioctl']);
    assert.equal(ruleOf(report, 'rsa-pss-salt')?.status, 'pass');
  });

  it('has no fioctl-form rule for a root with only Ed25519 keys', () => {
    const report = verifyRootUpdate(loadFoundries('root-v1.json'), loadFoundries('root-v2.json'), { now: NOW });
    assert.equal(ruleOf(report, 'fioctl-form'), undefined);
  });
});

// ---------------------------------------------------------------------------------------------
// The real sigstore chain (spec dialect)

describe('verifyChain on the sigstore root history', () => {
  const roots = Array.from({ length: 15 }, (_, i) => load(sigstoreDoc(i + 1), `${i + 1}.root.json`));
  const first = roots[0];
  const last = roots[14];
  assert.ok(first !== undefined && last !== undefined);
  const beforeExpiry = new Date(last.expiresAt.getTime() - 24 * 60 * 60 * 1000);

  it('accepts version 1 as a trust anchor', () => {
    const report = verifySelfSigned(first, { now: NOW, checkExpiry: false });
    assert.ok(report.ok, JSON.stringify(failing(report)));
    assert.equal(ruleOf(report, 'expiry')?.status, 'info');
    assert.equal(report.dialect, 'spec');
  });

  it('walks 1 → 15 with exactly one warning: key 7247f0db in version 11', () => {
    const t = performance.now();
    const report = verifyChain(first, roots.slice(1), { now: beforeExpiry });
    const ms = performance.now() - t;
    assert.ok(report.ok, JSON.stringify(report.steps.map(failing)));
    assert.equal(report.finalVersion, 15);
    assert.equal(report.failedAt, undefined);
    assert.equal(report.steps.length, 14);
    assert.equal(report.warnings.length, 1);
    const [w] = report.warnings;
    assert.equal(w?.rule, 'keyid-hash');
    assert.equal(w?.version, 11);
    assert.match(w?.message ?? '', /7247f0db/);
    // Only the final root's expiry is checked.
    assert.deepEqual(
      report.steps.map((s) => ruleOf(s, 'expiry')?.status),
      [...Array<string>(13).fill('info'), 'pass'],
    );
    for (const s of report.steps) assertNoKeyMaterial(s, roots);
    console.log(`# verifyChain over the 15 sigstore roots: ${ms.toFixed(1)} ms`);
  });

  it('refuses the chain when the final root has expired', () => {
    const report = verifyChain(first, roots.slice(1), { now: new Date(last.expiresAt.getTime() + 1000) });
    assert.equal(report.ok, false);
    assert.equal(report.failedAt, 15);
    assert.equal(report.finalVersion, 14);
    assert.deepEqual(failing(report.steps.at(-1) as VerifyReport), ['expiry']);
  });

  for (let v = 2; v <= 15; v++) {
    it(`stops at version ${v} when one character of its signed part changes`, () => {
      const doc = sigstoreDoc(v);
      const signed = doc.signed as JsonObject;
      const expires = String(signed.expires);
      // The second digit of the seconds: still a valid date, but different signed bytes.
      const digit = Number(expires.charAt(18));
      signed.expires = `${expires.slice(0, 18)}${(digit + 1) % 10}${expires.slice(19)}`;
      const chain = roots.slice(1);
      chain[v - 2] = load(doc);
      const report = verifyChain(first, chain, { now: beforeExpiry });
      assert.equal(report.ok, false);
      assert.equal(report.failedAt, v);
      assert.equal(report.finalVersion, v - 1);
      assert.equal(report.steps.length, v - 1);
      assert.deepEqual(failing(report.steps.at(-1) as VerifyReport), ['threshold-old', 'threshold-new']);
    });
  }

  it('skips empty signature slots', () => {
    const v12 = roots[11];
    assert.ok(v12 !== undefined && v12.signatures.some((s) => s.sig === ''));
    assert.ok(verifyRootUpdate(roots[10] as Root, v12, { now: NOW, checkExpiry: false }).ok);
  });
});

// ---------------------------------------------------------------------------------------------
// Generated roots: keys made here with node:crypto, signed here over the canonical bytes

interface TestKey {
  priv: KeyObject;
  /** Ed25519 public key, hex. */
  hex: string;
  spkiSha256: string;
}

function newKey(): TestKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const hex = spki.subarray(spki.length - 32).toString('hex');
  return { priv: privateKey, hex, spkiSha256: createHash('sha256').update(spki).digest('hex') };
}

function keyJson(dialect: Dialect, k: TestKey): JsonObject {
  return dialect === 'foundries'
    ? { keytype: 'ED25519', keyval: { public: k.hex } }
    : { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: k.hex } };
}

function keyIdOf(dialect: Dialect, k: TestKey): string {
  return dialect === 'foundries' ? k.spkiSha256 : keyIdSpec(keyJson(dialect, k));
}

interface Build {
  dialect: Dialect;
  version: number;
  /** Root role: keys and the IDs they are listed under (default: keyIdOf). */
  root: { key: TestKey; id?: string }[];
  threshold?: number;
  online: TestKey;
  expires?: string;
  /** Who signs, and under which key ID (default: the first ID the key is listed under). */
  signers: { key: TestKey; id?: string; method?: string }[];
  edit?: (signed: JsonObject) => void;
}

function build(b: Build): { doc: JsonObject; root: Root } {
  const keys: JsonObject = {};
  const rootIds: string[] = [];
  for (const { key, id } of b.root) {
    const kid = id ?? keyIdOf(b.dialect, key);
    keys[kid] = keyJson(b.dialect, key);
    rootIds.push(kid);
  }
  const onlineId = keyIdOf(b.dialect, b.online);
  keys[onlineId] = keyJson(b.dialect, b.online);
  const online = { keyids: [onlineId], threshold: 1 };
  const signed: JsonObject = {
    _type: b.dialect === 'foundries' ? 'Root' : 'root',
    consistent_snapshot: b.dialect === 'spec',
    expires: b.expires ?? '2030-01-01T00:00:00Z',
    keys,
    roles: { root: { keyids: rootIds, threshold: b.threshold ?? 1 }, targets: online, snapshot: online, timestamp: online },
    version: b.version,
  };
  if (b.dialect === 'spec') signed.spec_version = '1.0.31';
  b.edit?.(signed);
  const bytes = canonicalBytes(b.dialect, signed);
  const signatures = b.signers.map(({ key, id, method }): JsonObject => {
    const keyid = id ?? rootIds[b.root.findIndex((r) => r.key === key)] ?? keyIdOf(b.dialect, key);
    const sig = cryptoSign(null, bytes, key.priv);
    return b.dialect === 'foundries'
      ? { keyid, method: method ?? 'ed25519', sig: sig.toString('base64') }
      : { keyid, sig: sig.toString('hex') };
  });
  const doc: JsonObject = { signatures, signed };
  return { doc, root: load(doc) };
}

describe('verifyRootUpdate on generated spec roots', () => {
  const a = newKey();
  const b = newKey();
  const online = newKey();
  const v1 = build({ dialect: 'spec', version: 1, root: [{ key: a }], online, signers: [{ key: a }] });
  const next = (over: Partial<Build>): { doc: JsonObject; root: Root } =>
    build({ dialect: 'spec', version: 2, root: [{ key: b }], online, signers: [{ key: b }, { key: a }], ...over });

  it('accepts a rotation signed by the old and the new key, as tuf-js does', () => {
    const v2 = next({});
    const report = verifyRootUpdate(v1.root, v2.root, { now: NOW });
    assert.deepEqual(failing(report), []);
    assert.ok(verifySelfSigned(v1.root, { now: NOW }).ok);
    const trusted = Metadata.fromJSON(MetadataKind.Root, v1.doc);
    const candidate = Metadata.fromJSON(MetadataKind.Root, v2.doc);
    trusted.verifyDelegate('root', candidate);
    candidate.verifyDelegate('root', candidate);
  });

  const refusals: [string, Partial<Build>, RuleId[]][] = [
    ['signed only by the new key', { signers: [{ key: b }] }, ['threshold-old']],
    ['signed only by the old key', { signers: [{ key: a }] }, ['threshold-new']],
    ['with a skipped version', { version: 3 }, ['version']],
    ['that has expired', { expires: '2026-11-22T00:00:00Z' }, ['expiry']],
    ['with a duplicate signature', { signers: [{ key: b }, { key: a }, { key: b }] }, ['signatures-unique']],
  ];
  for (const [what, over, rules] of refusals) {
    it(`refuses a root ${what}, naming ${rules.join(', ')}`, () => {
      const report = verifyRootUpdate(v1.root, next(over).root, { now: NOW });
      assert.equal(report.ok, false);
      assert.deepEqual(failing(report), rules);
    });
  }

  it('agrees with tuf-js that a duplicate signature is refused when parsing', () => {
    const dup = next({ signers: [{ key: b }, { key: a }, { key: b }] });
    assert.throws(() => Metadata.fromJSON(MetadataKind.Root, dup.doc));
  });

  it('warns, never fails, about a key ID that is not the hash of its key', () => {
    const odd = 'ab'.repeat(32);
    const v2 = next({ root: [{ key: b, id: odd }], signers: [{ key: b }, { key: a }] });
    const report = verifyRootUpdate(v1.root, v2.root, { now: NOW });
    assert.ok(report.ok);
    const r = ruleOf(report, 'keyid-hash');
    assert.equal(r?.status, 'warn');
    assert.match(r?.message ?? '', /abababab/);
    assert.match(r?.message ?? '', /version 2/);
    assert.ok(!(r?.message ?? '').includes(odd), 'short key ID only');
  });

  it('counts one public key under two key IDs once', () => {
    const alias = 'cd'.repeat(32);
    const v2 = next({
      root: [{ key: b }, { key: b, id: alias }],
      threshold: 2,
      signers: [{ key: b }, { key: b, id: alias }, { key: a }],
    });
    const report = verifyRootUpdate(v1.root, v2.root, { now: NOW });
    assert.equal(report.ok, false);
    assert.deepEqual(failing(report), ['thresholds-reachable', 'distinct-keys', 'threshold-new']);
    assert.match(ruleOf(report, 'threshold-new')?.message ?? '', /^1 valid signature/);
  });

  it('checks expiry only when asked', () => {
    const v2 = next({ expires: '2020-01-01T00:00:00Z' });
    const report = verifyRootUpdate(v1.root, v2.root, { now: NOW, checkExpiry: false });
    assert.ok(report.ok);
    assert.equal(ruleOf(report, 'expiry')?.status, 'info');
  });

  it('refuses a root of the other dialect', () => {
    const f = build({ dialect: 'foundries', version: 2, root: [{ key: b }], online, signers: [{ key: b }, { key: a }] });
    const report = verifyRootUpdate(v1.root, f.root, { now: NOW });
    assert.ok(failing(report).includes('type'));
  });
});

describe('verifyRootUpdate on generated Foundries roots', () => {
  const k = newKey();
  const l = newKey();
  const online = newKey();
  const v1 = build({ dialect: 'foundries', version: 1, root: [{ key: k }], online, signers: [{ key: k }] });
  const alias = 'ef'.repeat(32);
  const next = (over: Partial<Build>): Root =>
    build({ dialect: 'foundries', version: 2, root: [{ key: k }], online, signers: [{ key: k }], ...over }).root;
  const check = (over: Partial<Build>): VerifyReport => verifyRootUpdate(v1.root, next(over), { now: NOW });

  it('fails when a threshold of 2 depends on one key listed under two key IDs, both signing', () => {
    const report = check({ root: [{ key: k }, { key: k, id: alias }], threshold: 2, signers: [{ key: k }, { key: k, id: alias }] });
    assert.deepEqual(failing(report), ['thresholds-reachable', 'distinct-keys', 'threshold-new']);
  });

  it('fails a duplicated key in a threshold-2 role even when enough distinct keys signed', () => {
    const report = check({
      root: [{ key: k }, { key: k, id: alias }, { key: l }],
      threshold: 2,
      signers: [{ key: k }, { key: l }],
    });
    // Devices count key IDs: k alone could meet this threshold on them.
    assert.deepEqual(failing(report), ['distinct-keys']);
  });

  it('only warns about a duplicated key that no threshold depends on', () => {
    const report = check({ root: [{ key: k }, { key: k, id: alias }], signers: [{ key: k }, { key: k, id: alias }] });
    assert.ok(report.ok);
    assert.equal(ruleOf(report, 'distinct-keys')?.status, 'warn');
    assert.match(ruleOf(report, 'threshold-new')?.message ?? '', /^1 valid signature/);
  });

  it('accepts methods in any case and refuses unknown ones, even from a stranger key', () => {
    assert.ok(check({ signers: [{ key: k, method: 'ED25519' }] }).ok);
    const stranger = check({ signers: [{ key: k }, { key: l, id: '12'.repeat(32), method: 'ecdsa-sha2-nistp256' }] });
    assert.deepEqual(failing(stranger), ['signature-methods']);
  });

  it('key objects with extra fields or a lower-case keytype: the API’s rule (warn in verify, fail for a Factory), not the device’s', () => {
    const id = k.spkiSha256;
    const edits: [string, (s: JsonObject) => void, RegExp][] = [
      ['an extra field', (s) => (((s.keys as JsonObject)[id] as JsonObject).scheme = 'ed25519'), /extra fields "scheme"/],
      ['an extra keyval field', (s) => ((((s.keys as JsonObject)[id] as JsonObject).keyval as JsonObject).private = 'x'), /extra keyval fields "private"/],
      ['a lower-case keytype', (s) => (((s.keys as JsonObject)[id] as JsonObject).keytype = 'ed25519'), /keytype "ed25519", the API wants "ED25519"/],
      [
        'upper-case hex',
        (s) => {
          const kv = ((s.keys as JsonObject)[id] as JsonObject).keyval as JsonObject;
          kv.public = String(kv.public).toUpperCase();
        },
        /not 64 lower-case hex/,
      ],
    ];
    for (const [what, edit, message] of edits) {
      const root = next({ edit });
      const plain = verifyRootUpdate(v1.root, root, { now: NOW });
      assert.ok(plain.ok, what);
      const r = ruleOf(plain, 'api-key-form');
      assert.equal(r?.status, 'warn', what);
      assert.deepEqual(r?.sources, ['foundries-api']);
      assert.match(r?.message ?? '', message, what);
      assert.match(r?.message ?? '', /fails before publishing to a Factory/);
      // Devices compare the keytype case-insensitively and ignore extra fields.
      assert.equal(ruleOf(plain, 'key-types')?.status, 'pass', what);
      assert.deepEqual(
        plain.matrix.map((m) => m.verdict),
        ['accepts', 'refuses', 'not-applicable', 'not-applicable'],
        what,
      );
      const factory = verifyRootUpdate(v1.root, root, { now: NOW, factory: true });
      assert.deepEqual(failing(factory), ['api-key-form'], what);
    }
  });

  it('a keytype devices do not know is the device’s rule', () => {
    const id = k.spkiSha256;
    const report = check({ edit: (s) => (((s.keys as JsonObject)[id] as JsonObject).keytype = 'ECDSA') });
    assert.ok(failing(report).includes('key-types'));
    assert.deepEqual(ruleOf(report, 'key-types')?.sources, ['device', 'foundries-api']);
    assert.equal(report.matrix[0]?.verdict, 'refuses');
  });

  it('refuses strings outside printable ASCII', () => {
    for (const message of ['Schlüsselwechsel', 'line one\nline two', 'tab\there']) {
      const report = check({ edit: (s) => (s['x-changelog'] = { message }) });
      assert.deepEqual(failing(report), ['canonical-ascii'], JSON.stringify(message));
      assert.match(ruleOf(report, 'canonical-ascii')?.message ?? '', /x-changelog\.message/);
    }
  });

  it('refuses a document over 64 KiB', () => {
    const report = check({ edit: (s) => (s['x-changelog'] = { message: 'x'.repeat(70_000) }) });
    assert.deepEqual(failing(report), ['size']);
  });

  it('refuses a threshold above 1000', () => {
    const report = check({ edit: (s) => (((s.roles as JsonObject).targets as JsonObject).threshold = 1001) });
    assert.deepEqual(failing(report), ['thresholds-reachable']);
  });

  it('refuses a role key ID missing from keys', () => {
    const report = check({ edit: (s) => (((s.roles as JsonObject).targets as JsonObject).keyids = ['99'.repeat(32)]) });
    assert.ok(failing(report).includes('role-keys-present'));
  });
});

describe('verifyChain', () => {
  const k = newKey();
  const online = newKey();
  const mk = (version: number, over: Partial<Build> = {}): Root =>
    build({ dialect: 'foundries', version, root: [{ key: k }], online, signers: [{ key: k }], ...over }).root;

  it('checks expiry of the final root only and stops at the first failure', () => {
    const expired = '2020-01-01T00:00:00Z';
    const ok = verifyChain(mk(1), [mk(2, { expires: expired }), mk(3)], { now: NOW });
    assert.ok(ok.ok);
    assert.equal(ok.finalVersion, 3);
    const broken = verifyChain(mk(1), [mk(2), mk(4), mk(5)], { now: NOW });
    assert.equal(broken.ok, false);
    assert.equal(broken.failedAt, 4);
    assert.equal(broken.finalVersion, 2);
    assert.equal(broken.steps.length, 2);
  });

  it('accepts an empty chain', () => {
    const r = verifyChain(mk(1), [], { now: NOW });
    assert.deepEqual([r.ok, r.finalVersion, r.failedAt, r.steps.length], [true, 1, undefined, 0]);
  });
});

describe('expiryWarning', () => {
  const root = loadFoundries('root-v2.json'); // expires 2036-01-01T00:00:00Z
  const at = (iso: string): Date => new Date(iso);

  it('warns inside 30 days and when expired, not before', () => {
    assert.equal(expiryWarning(root, at('2035-11-01T00:00:00Z')), undefined);
    const soon = expiryWarning(root, at('2035-12-22T00:00:00Z'));
    assert.equal(soon?.status, 'warn');
    assert.equal(soon?.rule, 'expiry');
    assert.match(soon?.message ?? '', /10 days/);
    assert.match(expiryWarning(root, at('2036-02-01T00:00:00Z'))?.message ?? '', /expired/);
    assert.equal(expiryWarning(root, at('2035-11-01T00:00:00Z'), 90)?.status, 'warn');
  });
});

describe('verifyRootUpdate on a root that cannot be canonicalised', () => {
  it('fails the signature rules instead of throwing', () => {
    const root = loadFoundries('root-v2.json');
    const next: Root = { ...root, signedJson: { ...root.signedJson, 'x-float': 1.5 } };
    const report = verifyRootUpdate(loadFoundries('root-v1.json'), next, { now: NOW });
    assert.deepEqual(failing(report), ['threshold-old', 'threshold-new']);
    assert.match(ruleOf(report, 'threshold-new')?.message ?? '', /non-integer/);
  });
});
