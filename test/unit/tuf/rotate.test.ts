import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { canonicalize } from '@tufjs/canonical-json';
import { Metadata, MetadataKind } from '@tufjs/models';
import { assertAppError, SHARED_FIXTURES } from '../../helpers/assert-app-error.js';
import { cloneJson, type JsonObject } from '../../../server/tuf/json.js';
import { generateKey, type PrivateKey } from '../../../server/tuf/private-key.js';
import { keyIdFor, newRootKeyJson, publicKeyOf } from '../../../server/tuf/public-key.js';
import { parseArchiveSecret } from '../../../server/tuf/archive-keys.js';
import { parseRoot, serializeRoot } from '../../../server/tuf/metadata.js';
import type { KeyAlgorithm, Root, RootDocument, Signer } from '../../../server/tuf/model.js';
import { addOneYear, planRootRotation, roundToSecond, signRotation } from '../../../server/tuf/rotate.js';
import { LocalSigner, signRoot } from '../../../server/tuf/sign.js';
import { verifyRootUpdate } from '../../../server/tuf/verify.js';

function fixturePath(rel: string): string {
  return fileURLToPath(new URL(rel, SHARED_FIXTURES));
}

function fixture(rel: string): Root {
  return parseRoot(readFileSync(fixturePath(rel)), rel);
}

const v1 = fixture('foundries/root-v1.json');
const v1prod = fixture('foundries/root-v1.prod.json');
const OLD_ROOT = '52f2adff0d110e0a48c0c3d87ae46bea838970796d10e5eddbdd40d1489062c7';
const TARGETS_ONLINE = 'e147f1f767e045b5a967396ba4f1002d164c548514487d825f61fc570786fe24';
const POLIS = '00000000-0000-4000-8000-000000000042';
const NOW = new Date('2025-06-15T10:20:30.400Z');

/** The owner's old root key, straight out of the fixture archive with tar. */
function oldRootKey(): PrivateKey {
  const sec = execFileSync('tar', ['-xzOf', fixturePath('foundries/offline-keys.v1.tgz'), 'tufrepo/keys/first-root.sec']);
  return parseArchiveSecret(JSON.parse(sec.toString('utf8')) as JsonObject);
}

let ed25519: PrivateKey | undefined;
async function newEd25519(): Promise<PrivateKey> {
  ed25519 ??= await generateKey('ed25519');
  return ed25519;
}

function reparse(doc: RootDocument): Root {
  return parseRoot(serializeRoot(doc));
}

describe('planRootRotation (Foundries)', () => {
  it('rotates root-v1 to an Ed25519 key and signs it so the v1 root accepts it', async () => {
    const key = await newEd25519();
    const plan = planRootRotation(v1, { heldKeyIds: [OLD_ROOT], newKey: key.publicKey, now: NOW, polisId: POLIS, changelog: 'Rotate the root key' });
    const spkiId = createHash('sha256').update(key.publicKey.spki).digest('hex');
    assert.equal(plan.dialect, 'foundries');
    assert.equal(plan.newKeyId, spkiId);
    assert.equal(plan.replacedKeyId, OLD_ROOT);
    assert.deepEqual(plan.removedKeyIds, [OLD_ROOT]);
    assert.deepEqual(plan.signers, [
      { keyid: spkiId, role: 'new' },
      { keyid: OLD_ROOT, role: 'old' },
    ]);

    const s = plan.newSigned as {
      version: number;
      expires: string;
      keys: Record<string, JsonObject>;
      roles: Record<string, { keyids: string[]; threshold: number }>;
      'x-key-owners': JsonObject;
      'x-changelog': JsonObject;
    };
    assert.equal(s.version, 2);
    assert.equal(s.expires, '2026-06-15T10:20:30Z');
    assert.deepEqual(s.roles.root, { keyids: [spkiId], threshold: 1 });
    assert.equal(s.keys[OLD_ROOT], undefined);
    assert.deepEqual(s.keys[spkiId], { keytype: 'ED25519', keyval: { public: Buffer.from(key.publicKey.spki.subarray(12)).toString('hex') } });
    assert.deepEqual(Object.keys(s.keys).sort(), [...Object.keys(v1.keys).filter((id) => id !== OLD_ROOT), spkiId].sort());
    assert.deepEqual(s['x-key-owners'], { [spkiId]: { 'polis-id': POLIS, 'created-at': '2025-06-15T10:20:30Z' } });
    assert.deepEqual(s['x-changelog'], { 'polis-id': POLIS, message: 'Rotate the root key', timestamp: '2025-06-15T10:20:30Z' });
    assert.equal(s.roles.targets?.threshold, 1);
    const prodTargets = (plan.prodSigned as typeof s | undefined)?.roles.targets;
    assert.equal(prodTargets?.threshold, 2);
    assert.deepEqual({ ...plan.prodSigned, roles: undefined }, { ...plan.newSigned, roles: undefined });
    // The current root is not touched.
    assert.deepEqual(v1.roles.root?.keyids, [OLD_ROOT]);
    assert.deepEqual(
      plan.warnings.map((w) => w.code),
      ['SINGLE_HOLDER'],
    );

    const signers = new Map<string, Signer>([
      [spkiId, new LocalSigner(key)],
      [OLD_ROOT, new LocalSigner(oldRootKey())],
    ]);
    const { root, prod } = await signRotation(plan, signers);
    assert.deepEqual(
      root.signatures.map((x) => [x.keyid, x.method]),
      [
        [spkiId, 'ed25519'],
        [OLD_ROOT, 'rsassa-pss-sha256'],
      ],
    );
    const next = reparse(root);
    const report = verifyRootUpdate(v1, next, { now: NOW });
    assert.ok(report.ok, JSON.stringify(report.results.filter((r) => r.status === 'fail')));
    assert.ok(prod);
    const prodReport = verifyRootUpdate(v1prod, reparse(prod), { now: NOW });
    assert.ok(prodReport.ok, JSON.stringify(prodReport.results.filter((r) => r.status === 'fail')));
  });

  it('keeps only fioctl’s field set', async () => {
    const doc = JSON.parse(readFileSync(fixturePath('foundries/root-v1.json'), 'utf8')) as { signed: Record<string, Record<string, JsonObject>> };
    const signed = doc.signed as JsonObject & { keys: Record<string, JsonObject>; roles: Record<string, JsonObject> };
    signed['x-unknown'] = 'dropped';
    const targetsKey = signed.keys[TARGETS_ONLINE] as JsonObject;
    targetsKey.extra = 'dropped';
    (signed.roles.targets as JsonObject).extra = 'dropped';
    const current = parseRoot(doc as unknown as JsonObject);
    const key = await newEd25519();
    const plan = planRootRotation(current, { heldKeyIds: [OLD_ROOT], newKey: key.publicKey, now: NOW });
    const text = JSON.stringify(plan.newSigned);
    assert.ok(!text.includes('dropped'), text);
    assert.deepEqual(Object.keys(plan.newSigned).sort(), ['_type', 'consistent_snapshot', 'expires', 'keys', 'roles', 'version']);
    assert.deepEqual(plan.warnings, []);
  });

  it('keeps an old changelog when none is given, and the staged version when told not to bump', async () => {
    const v2 = fixture('foundries/root-v2.json');
    const key = await generateKey('ed25519');
    const held = v2.roles.root?.keyids ?? [];
    const plan = planRootRotation(v2, { heldKeyIds: held, newKey: key.publicKey, now: NOW, bumpVersion: false, prodTargetsThreshold: 3 });
    assert.equal(plan.newSigned.version, 2);
    assert.deepEqual(plan.newSigned['x-changelog'], v2.signedJson['x-changelog']);
    // The replaced key's owner goes with its key; no new owner without a polis ID.
    assert.equal(plan.newSigned['x-key-owners'], undefined);
    assert.equal(((plan.prodSigned?.roles as JsonObject).targets as JsonObject).threshold, 3);
    const low = planRootRotation(v2, { heldKeyIds: held, newKey: key.publicKey, now: NOW, prodTargetsThreshold: 1 });
    assert.equal(((low.prodSigned?.roles as JsonObject).targets as JsonObject).threshold, 2);
  });

  it('computes expiry like Go AddDate(1, 0, 0) and Round(time.Second): 29 Feb → 1 Mar', async () => {
    const key = await newEd25519();
    const now = new Date('2028-02-29T12:00:00.600Z');
    const plan = planRootRotation(v1, { heldKeyIds: [OLD_ROOT], newKey: key.publicKey, now });
    assert.equal(plan.newSigned.expires, '2029-03-01T12:00:01Z');
    assert.equal(roundToSecond(new Date('2025-01-01T00:00:00.499Z')).toISOString(), '2025-01-01T00:00:00.000Z');
    assert.equal(roundToSecond(new Date('2025-01-01T00:00:00.500Z')).toISOString(), '2025-01-01T00:00:01.000Z');
    assert.equal(addOneYear(new Date('2025-12-31T23:59:59Z')).toISOString(), '2026-12-31T23:59:59.000Z');
    // An explicit expiry is used as given (rounded to the second).
    const explicit = planRootRotation(v1, { heldKeyIds: [OLD_ROOT], newKey: key.publicKey, now, expires: new Date('2028-04-01T00:00:00Z') });
    assert.equal(explicit.newSigned.expires, '2028-04-01T00:00:00Z');
    assert.deepEqual(
      explicit.warnings.map((w) => w.code),
      [],
    );
    const soon = planRootRotation(v1, { heldKeyIds: [OLD_ROOT], newKey: key.publicKey, now, expires: new Date('2028-03-10T00:00:00Z') });
    assert.deepEqual(
      soon.warnings.map((w) => w.code),
      ['EXPIRES_SOON'],
    );
  });

  it('keeps an RSA new key and says so', async () => {
    const rsa = await generateKey('rsa');
    const plan = planRootRotation(v1, { heldKeyIds: [OLD_ROOT], newKey: rsa.publicKey, now: NOW });
    assert.equal((plan.newSigned.keys as Record<string, JsonObject>)[plan.newKeyId]?.keytype, 'RSA');
    assert.ok(plan.warnings.some((w) => w.code === 'RSA_PRESENT'));
    const { root } = await signRotation(
      plan,
      new Map([
        [plan.newKeyId, new LocalSigner(rsa)],
        [OLD_ROOT, new LocalSigner(oldRootKey())],
      ]),
    );
    assert.ok(verifyRootUpdate(v1, reparse(root), { now: NOW }).ok);
  });
});

describe('planRootRotation refusals', () => {
  it('refuses without a held root key', async () => {
    const key = await newEd25519();
    await assertAppError(() => planRootRotation(v1, { heldKeyIds: [], newKey: key.publicKey, now: NOW }), 'ROTATION_REFUSED');
    await assertAppError(() => planRootRotation(v1, { heldKeyIds: [TARGETS_ONLINE], newKey: key.publicKey, now: NOW }), 'ROTATION_REFUSED');
  });

  it('refuses a new key that is already in the root', async () => {
    const targetsKey = v1.keys[TARGETS_ONLINE];
    assert.ok(targetsKey);
    await assertAppError(() => planRootRotation(v1, { heldKeyIds: [OLD_ROOT], newKey: publicKeyOf(targetsKey), now: NOW }), 'ROTATION_REFUSED');
    const oldKey = v1.keys[OLD_ROOT];
    assert.ok(oldKey);
    await assertAppError(() => planRootRotation(v1, { heldKeyIds: [OLD_ROOT], newKey: publicKeyOf(oldKey), now: NOW }), 'ROTATION_REFUSED');
  });

  it('refuses a changelog outside printable ASCII for Foundries roots', async () => {
    const key = await newEd25519();
    for (const changelog of ['Rotación', 'line one\nline two', 'tab\there', 'cr\r']) {
      const e = await assertAppError(() => planRootRotation(v1, { heldKeyIds: [OLD_ROOT], newKey: key.publicKey, now: NOW, changelog }), 'ROTATION_REFUSED');
      assert.match(e.message, /x-changelog\.message/);
    }
    // RSA PEM public keys are the one exception: a new RSA key's PEM lines pass.
    const rsa = await generateKey('rsa');
    planRootRotation(v1, { heldKeyIds: [OLD_ROOT], newKey: rsa.publicKey, now: NOW, changelog: 'Plain ASCII: fine!' });
  });

  it('refuses an ECDSA key for a Foundries root', async () => {
    const ec = await generateKey('ecdsa');
    await assertAppError(() => planRootRotation(v1, { heldKeyIds: [OLD_ROOT], newKey: ec.publicKey, now: NOW }), 'KEY_TYPE_UNSUPPORTED');
  });

  it('refuses an expiry that is not after now', async () => {
    const key = await newEd25519();
    await assertAppError(() => planRootRotation(v1, { heldKeyIds: [OLD_ROOT], newKey: key.publicKey, now: NOW, expires: NOW }), 'ROTATION_REFUSED');
    await assertAppError(
      () => planRootRotation(v1, { heldKeyIds: [OLD_ROOT], newKey: key.publicKey, now: NOW, expires: new Date('2020-01-01T00:00:00Z') }),
      'ROTATION_REFUSED',
    );
  });

  it('refuses a rotation that would lock the operator out', async () => {
    const signed = cloneJson(v1.signedJson);
    const root = (signed.roles as Record<string, { keyids: string[]; threshold: number }>).root;
    assert.ok(root);
    root.keyids.push(TARGETS_ONLINE);
    root.threshold = 2;
    const current = parseRoot({ signatures: [], signed });
    const key = await newEd25519();
    // Holding one of two root keys: after replacing it, only the new key is held; the root needs 2.
    await assertAppError(() => planRootRotation(current, { heldKeyIds: [OLD_ROOT], newKey: key.publicKey, now: NOW }), 'ROTATION_LOCKOUT');
    // Holding both: choose which one to replace, then fine; both old keys sign (old threshold 2).
    await assertAppError(() => planRootRotation(current, { heldKeyIds: [OLD_ROOT, TARGETS_ONLINE], newKey: key.publicKey, now: NOW }), 'ROTATION_REFUSED');
    const plan = planRootRotation(current, { heldKeyIds: [OLD_ROOT, TARGETS_ONLINE], newKey: key.publicKey, now: NOW, replaceKeyId: OLD_ROOT });
    assert.deepEqual(plan.signers, [
      { keyid: plan.newKeyId, role: 'new' },
      { keyid: OLD_ROOT, role: 'old' },
      { keyid: TARGETS_ONLINE, role: 'old' },
    ]);
    await assertAppError(
      () => planRootRotation(current, { heldKeyIds: [OLD_ROOT], newKey: key.publicKey, now: NOW, replaceKeyId: TARGETS_ONLINE }),
      'ROTATION_REFUSED',
    );
  });

  it('signRotation needs a signer for every planned key, holding the right key', async () => {
    const key = await newEd25519();
    const plan = planRootRotation(v1, { heldKeyIds: [OLD_ROOT], newKey: key.publicKey, now: NOW });
    await assertAppError(() => signRotation(plan, new Map([[plan.newKeyId, new LocalSigner(key)]])), 'SIGNING_FAILED');
    const other = await generateKey('ed25519');
    await assertAppError(
      () =>
        signRotation(
          plan,
          new Map([
            [plan.newKeyId, new LocalSigner(other)],
            [OLD_ROOT, new LocalSigner(oldRootKey())],
          ]),
        ),
      'KEY_MISMATCH',
    );
  });
});

/** A small spec-dialect root v1, signed by its own root key, with unknown fields in several places. */
async function specRoot(alg: KeyAlgorithm): Promise<{ root: Root; doc: RootDocument; rootKey: PrivateKey; rootKeyId: string }> {
  const rootKey = await generateKey(alg);
  const online = await generateKey('ed25519');
  const rootKeyId = keyIdFor('spec', rootKey.publicKey);
  const onlineId = keyIdFor('spec', online.publicKey);
  const signed: JsonObject = {
    _type: 'root',
    spec_version: '1.0.31',
    version: 1,
    expires: '2030-01-01T00:00:00Z',
    consistent_snapshot: true,
    keys: {
      [rootKeyId]: newRootKeyJson('spec', rootKey.publicKey),
      [onlineId]: { ...newRootKeyJson('spec', online.publicKey), 'x-tuf-on-ci-online-uri': 'gcpkms:projects/x/key' },
    },
    roles: {
      root: { keyids: [rootKeyId], threshold: 1 },
      targets: { keyids: [onlineId], threshold: 1 },
      snapshot: { keyids: [onlineId], threshold: 1, 'x-tuf-on-ci-expiry-period': 365 },
      timestamp: { keyids: [onlineId], threshold: 1 },
    },
    'x-tuf-on-ci-expiry-period': 182,
    'x-nested': { list: [1, 'two', { three: null }] },
  };
  const signatures = await signRoot('spec', signed, [{ keyid: rootKeyId, signer: new LocalSigner(rootKey) }]);
  const doc: RootDocument = { signatures, signed };
  return { root: parseRoot(cloneJson(doc)), doc, rootKey, rootKeyId };
}

describe('planRootRotation (TUF specification)', () => {
  it('keeps every unknown field of the sigstore root and changes only keys, roles, version and expiry', async () => {
    const current = fixture('sigstore-root-chain/15.root.json');
    const rootIds = current.roles.root?.keyids ?? [];
    assert.equal(current.roles.root?.threshold, 3);
    const key = await generateKey('ecdsa');
    const [replaced] = rootIds;
    assert.ok(replaced);
    const plan = planRootRotation(current, { heldKeyIds: rootIds, newKey: key.publicKey, now: NOW, replaceKeyId: replaced, changelog: 'ignored for spec', polisId: 'ignored' });
    const s = plan.newSigned;
    assert.equal(s.version, 16);
    assert.equal(s.expires, '2026-06-15T10:20:30Z');
    assert.equal(s['x-tuf-on-ci-expiry-period'], 197);
    assert.equal(s['x-tuf-on-ci-signing-period'], 46);
    assert.equal(s['x-changelog'], undefined);
    assert.equal(s['x-key-owners'], undefined);
    const newKeys = s.keys as Record<string, JsonObject>;
    assert.deepEqual(newKeys[plan.newKeyId], newRootKeyJson('spec', key.publicKey));
    assert.equal(newKeys[plan.newKeyId]?.scheme, 'ecdsa-sha2-nistp256');
    // Everything else is byte-for-byte the old signed part.
    const strip = (x: JsonObject): JsonObject => {
      const c = cloneJson(x);
      delete c.version;
      delete c.expires;
      const keys = c.keys as JsonObject;
      delete keys[replaced];
      delete keys[plan.newKeyId];
      const root = (c.roles as Record<string, JsonObject>).root as JsonObject;
      root.keyids = (root.keyids as string[]).filter((id) => id !== replaced && id !== plan.newKeyId);
      return c;
    };
    assert.deepEqual(strip(s), strip(current.signedJson));
    assert.deepEqual((s.roles as Record<string, { keyids: string[] }>).root?.keyids, [...rootIds.filter((id) => id !== replaced), plan.newKeyId]);
    // Threshold 3 of the old root and 3 of the new: the new key, the replaced key and two more.
    assert.equal(plan.signers.length, 4);
    assert.deepEqual(
      plan.signers.map((x) => x.role),
      ['new', 'old', 'old', 'old'],
    );
    assert.equal(plan.prodSigned, undefined);
  });

  it('refuses a lockout of a threshold-3 root held by one key', async () => {
    const current = fixture('sigstore-root-chain/15.root.json');
    const key = await generateKey('ecdsa');
    const one = current.roles.root?.keyids.slice(0, 1) ?? [];
    await assertAppError(() => planRootRotation(current, { heldKeyIds: one, newKey: key.publicKey, now: NOW }), 'ROTATION_LOCKOUT');
  });

  for (const alg of ['ed25519', 'rsa', 'ecdsa'] as const) {
    it(`rotates a ${alg} root so that tuf-js accepts the new root`, async () => {
      const { root, doc, rootKey, rootKeyId } = await specRoot(alg);
      const newKey = await generateKey(alg);
      const plan = planRootRotation(root, { heldKeyIds: [rootKeyId], newKey: newKey.publicKey, now: NOW });
      // TUF key ID: sha256 of the canonical JSON of the key object, computed independently.
      assert.equal(plan.newKeyId, createHash('sha256').update(canonicalize(plan.newKeyJson)).digest('hex'));
      assert.equal(plan.newSigned['x-tuf-on-ci-expiry-period'], 182);
      assert.deepEqual(plan.newSigned['x-nested'], { list: [1, 'two', { three: null }] });
      const { root: signedDoc, prod } = await signRotation(
        plan,
        new Map([
          [plan.newKeyId, new LocalSigner(newKey)],
          [rootKeyId, new LocalSigner(rootKey)],
        ]),
      );
      assert.equal(prod, undefined);
      const next = reparse(signedDoc);
      const report = verifyRootUpdate(root, next, { now: NOW });
      assert.ok(report.ok, JSON.stringify(report.results.filter((r) => r.status !== 'pass')));

      // An independent client: tuf-js's models (TUF spec 5.3.4: trusted root's keys, then the new root's own).
      const trusted = Metadata.fromJSON(MetadataKind.Root, JSON.parse(serializeRoot(doc)));
      const candidate = Metadata.fromJSON(MetadataKind.Root, JSON.parse(serializeRoot(signedDoc)));
      trusted.verifyDelegate('root', candidate);
      candidate.verifyDelegate('root', candidate);
      assert.equal(candidate.signed.version, 2);
      assert.deepEqual(candidate.signed.unrecognizedFields['x-tuf-on-ci-expiry-period'], 182);
      // tuf-js's key ID rule agrees with ours for the key we wrote.
      assert.ok(candidate.signed.keys[plan.newKeyId]);
      // And the old key alone is not enough for the new root's own threshold.
      const oldOnly = Metadata.fromJSON(MetadataKind.Root, JSON.parse(serializeRoot({ ...signedDoc, signatures: signedDoc.signatures.slice(1) })));
      assert.throws(() => candidate.verifyDelegate('root', oldOnly));
    });
  }
});
