import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertAppError } from '../../helpers/assert-app-error.js';
import type { JsonObject } from '../../../server/tuf/json.js';
import { generateKey, type PrivateKey } from '../../../server/tuf/private-key.js';
import { keyIdFor, newRootKeyJson } from '../../../server/tuf/public-key.js';
import { formatExpires, parseRoot, serializeRoot, toDocument } from '../../../server/tuf/metadata.js';
import type { Dialect, KeyAlgorithm, Root, Signer } from '../../../server/tuf/model.js';
import {
  metadataToResign,
  planChanges,
  signatureNeeds,
  signChangePlan,
  unmetRules,
  type Change,
  type ChangeContext,
  type ChangePlan,
} from '../../../server/tuf/changes.js';
import { resignRepoMetadata } from '../../../server/tuf/repo-metadata.js';
import { LocalSigner, signRoot } from '../../../server/tuf/sign.js';
import { verifyRootUpdate } from '../../../server/tuf/verify.js';

const NOW = new Date('2026-03-01T10:00:00Z');
const DAY = 24 * 60 * 60 * 1000;

interface Fixture {
  root: Root;
  keys: Map<string, PrivateKey>;
  ids: { root: string[]; targets: string[]; snapshot: string; timestamp: string };
}

/** A signed version-1 root: `rootKeys` root keys (threshold `rootThreshold`), online keys, optional offline targets key. */
async function makeRoot(dialect: Dialect, o: { rootKeys?: number; rootThreshold?: number; offlineTargets?: boolean; alg?: KeyAlgorithm; expires?: Date } = {}): Promise<Fixture> {
  const keys = new Map<string, PrivateKey>();
  const keyJson: JsonObject = {};
  const add = async (alg: KeyAlgorithm): Promise<string> => {
    const k = await generateKey(alg);
    const id = keyIdFor(dialect, k.publicKey);
    keyJson[id] = newRootKeyJson(dialect, k.publicKey);
    keys.set(id, k);
    return id;
  };
  const rootIds: string[] = [];
  for (let i = 0; i < (o.rootKeys ?? 1); i++) rootIds.push(await add(o.alg ?? 'ed25519'));
  const targets = [await add('ed25519')];
  if (o.offlineTargets) targets.push(await add('ed25519'));
  const snapshot = await add('ed25519');
  const timestamp = await add('ed25519');
  const signed: JsonObject = {
    _type: dialect === 'spec' ? 'root' : 'Root',
    ...(dialect === 'spec' ? { spec_version: '1.0.31' } : {}),
    consistent_snapshot: dialect === 'spec',
    expires: formatExpires(o.expires ?? new Date(NOW.getTime() + 200 * DAY)),
    keys: keyJson,
    roles: {
      root: { keyids: rootIds, threshold: o.rootThreshold ?? 1 },
      targets: { keyids: targets, threshold: 1 },
      snapshot: { keyids: [snapshot], threshold: 1 },
      timestamp: { keyids: [timestamp], threshold: 1 },
    },
    version: 1,
  };
  const sigs = await signRoot(dialect, signed, rootIds.map((id) => ({ keyid: id, signer: new LocalSigner(keys.get(id) as PrivateKey) })));
  return { root: parseRoot(serializeRoot(toDocument(signed, sigs))), keys, ids: { root: rootIds, targets, snapshot, timestamp } };
}

function ctxFor(f: Fixture, held: string[], extra: Partial<ChangeContext> = {}): ChangeContext {
  return { now: NOW, heldKeyIds: held, ...extra };
}

/** Signs the plan with every key we have (old ones and `fresh`) and verifies it as a client. */
async function signAndCheck(f: Fixture, plan: ChangePlan, fresh: PrivateKey[]): Promise<Root> {
  const signers = new Map<string, Signer>();
  for (const [id, k] of f.keys) signers.set(id, new LocalSigner(k));
  for (const k of fresh) signers.set(keyIdFor(plan.dialect, k.publicKey), new LocalSigner(k));
  assert.deepEqual(unmetRules(signatureNeeds(plan, [...signers.keys()])), []);
  const { root } = await signChangePlan(plan, signers);
  const next = parseRoot(serializeRoot(root));
  const report = verifyRootUpdate(f.root, next, { now: NOW });
  assert.ok(report.ok, JSON.stringify(report.results.filter((r) => r.status === 'fail')));
  return next;
}

describe('planChanges (standard repository)', () => {
  it('add a key + threshold 2: both keys in the root role, version + 1, signed by both', async () => {
    const f = await makeRoot('spec');
    const k = await generateKey('ed25519');
    const changes: Change[] = [
      { kind: 'add-key', role: 'root', newKey: k.publicKey },
      { kind: 'threshold', role: 'root', threshold: 2 },
    ];
    const plan = planChanges(f.root, changes, ctxFor(f, f.ids.root));
    const next = await signAndCheck(f, plan, [k]);
    assert.equal(next.version, 2);
    assert.equal(next.roles['root']?.threshold, 2);
    assert.deepEqual(next.roles['root']?.keyids, [...f.ids.root, keyIdFor('spec', k.publicKey)]);
    assert.equal(next.signatures.length, 2);
    assert.equal(next.expires, f.root.expires, 'adding a key does not refresh the expiry');
    assert.deepEqual(metadataToResign(plan), []);
  });

  it('add a public key someone else holds + threshold 2: waits for that holder', async () => {
    const f = await makeRoot('spec');
    const theirs = await generateKey('ed25519');
    const plan = planChanges(f.root, [
      { kind: 'add-key', role: 'root', newKey: theirs.publicKey },
      { kind: 'threshold', role: 'root', threshold: 2 },
    ], ctxFor(f, f.ids.root));
    const unmet = unmetRules(signatureNeeds(plan, f.ids.root));
    assert.equal(unmet.length, 1);
    assert.equal(unmet[0]?.rule, 'new');
    assert.deepEqual(unmet[0]?.keys.filter((k) => !k.available).map((k) => k.keyid), [keyIdFor('spec', theirs.publicKey)]);
  });

  it('remove a key + threshold 1', async () => {
    const f = await makeRoot('spec', { rootKeys: 2, rootThreshold: 2 });
    const gone = f.ids.root[1] as string;
    const plan = planChanges(f.root, [
      { kind: 'remove-key', keyid: gone.slice(0, 10) },
      { kind: 'threshold', role: 'root', threshold: 1 },
    ], ctxFor(f, f.ids.root));
    assert.deepEqual(plan.removedKeyIds, [gone]);
    const next = await signAndCheck(f, plan, []);
    assert.deepEqual(next.roles['root']?.keyids, [f.ids.root[0]]);
    assert.equal(next.keys[gone], undefined);
  });

  it('refuses a removal that leaves the threshold above the key count, and removing the last key', async () => {
    const f = await makeRoot('spec', { rootKeys: 2, rootThreshold: 2 });
    const e = await assertAppError(() => planChanges(f.root, [{ kind: 'remove-key', keyid: f.ids.root[1] as string }], ctxFor(f, f.ids.root)), 'ROTATION_LOCKOUT');
    assert.match(e.message, /threshold 2 is higher than the 1 distinct key/);
    assert.match(e.hint, /--threshold root=1/);
    const g = await makeRoot('spec');
    await assertAppError(() => planChanges(g.root, [{ kind: 'remove-key', keyid: g.ids.targets[0] as string }], ctxFor(g, g.ids.root)), 'ROTATION_LOCKOUT');
    await assertAppError(() => planChanges(g.root, [{ kind: 'threshold', role: 'root', threshold: 2 }], ctxFor(g, g.ids.root)), 'ROTATION_LOCKOUT');
    await assertAppError(() => planChanges(g.root, [{ kind: 'remove-key', keyid: 'nothere00' }], ctxFor(g, g.ids.root)), 'CHANGE_REFUSED');
  });

  it('rotate the targets key: targets, snapshot and timestamp are re-signed', async () => {
    const f = await makeRoot('spec');
    const k = await generateKey('ed25519');
    const plan = planChanges(f.root, [{ kind: 'rotate-key', role: 'targets', newKey: k.publicKey }], ctxFor(f, [...f.keys.keys()]));
    assert.deepEqual(plan.replaced, [{ role: 'targets', keyid: f.ids.targets[0] }]);
    assert.deepEqual(plan.changedRoles, ['targets']);
    assert.deepEqual(metadataToResign(plan), ['targets', 'snapshot', 'timestamp']);
    const next = await signAndCheck(f, plan, [k]);
    assert.deepEqual(next.roles['targets']?.keyids, [keyIdFor('spec', k.publicKey)]);
    assert.equal(next.expires, f.root.expires);
  });

  it('rotate all keys (root, targets, online) in one version', async () => {
    const f = await makeRoot('spec', { alg: 'ecdsa' });
    const [r, t, s, ts, tt] = await Promise.all([generateKey('ecdsa'), generateKey('ecdsa'), generateKey('ed25519'), generateKey('ed25519'), generateKey('ed25519')]);
    const plan = planChanges(f.root, [
      { kind: 'rotate-key', role: 'root', newKey: r.publicKey },
      { kind: 'rotate-key', role: 'targets', newKey: t.publicKey },
      { kind: 'rotate-online-keys', roles: ['snapshot', 'timestamp'], newKeys: { snapshot: s.publicKey, timestamp: ts.publicKey } },
    ], ctxFor(f, [...f.keys.keys()]));
    assert.deepEqual(plan.changedRoles, ['root', 'targets', 'snapshot', 'timestamp']);
    assert.equal(plan.newKeys.length, 4);
    const next = await signAndCheck(f, plan, [r, t, s, ts]);
    for (const role of ['root', 'targets', 'snapshot', 'timestamp']) {
      assert.ok(next.roles[role]?.keyids.every((id) => !f.keys.has(id)), `${role} has only new keys`);
    }
    assert.ok(Date.parse(next.expires) > NOW.getTime() + 360 * DAY, 'the root rotation sets one year');
    assert.ok(tt);
  });

  it('refresh the expiry: version + 1, same keys; default one year, or the days given', async () => {
    const f = await makeRoot('spec');
    const plan = planChanges(f.root, [{ kind: 'refresh-expiry' }], ctxFor(f, f.ids.root));
    const next = await signAndCheck(f, plan, []);
    assert.equal(next.version, 2);
    assert.equal(next.expires, '2027-03-01T10:00:00Z');
    assert.deepEqual(Object.keys(next.keys).sort(), Object.keys(f.root.keys).sort());
    const p90 = planChanges(f.root, [{ kind: 'refresh-expiry', days: 90 }], ctxFor(f, f.ids.root));
    assert.equal(p90.newSigned.expires, formatExpires(new Date(NOW.getTime() + 90 * DAY)));
  });

  it('refuses an expired result unless the expiry is refreshed', async () => {
    const f = await makeRoot('spec', { expires: new Date(NOW.getTime() - DAY) });
    const k = await generateKey('ed25519');
    await assertAppError(() => planChanges(f.root, [{ kind: 'add-key', role: 'root', newKey: k.publicKey }], ctxFor(f, f.ids.root)), 'CHANGE_REFUSED');
    const plan = planChanges(f.root, [{ kind: 'add-key', role: 'root', newKey: k.publicKey }, { kind: 'refresh-expiry', days: 30 }], ctxFor(f, f.ids.root));
    assert.equal(plan.newSigned.expires, formatExpires(new Date(NOW.getTime() + 30 * DAY)));
  });

  it('refuses contradictions, a key already in the root, and an empty change list', async () => {
    const f = await makeRoot('spec');
    await assertAppError(() => planChanges(f.root, [{ kind: 'threshold', role: 'root', threshold: 1 }, { kind: 'threshold', role: 'root', threshold: 1 }], ctxFor(f, f.ids.root)), 'CHANGE_REFUSED');
    const existing = f.keys.get(f.ids.snapshot) as PrivateKey;
    await assertAppError(() => planChanges(f.root, [{ kind: 'add-key', role: 'root', newKey: existing.publicKey }], ctxFor(f, f.ids.root)), 'CHANGE_REFUSED');
    await assertAppError(() => planChanges(f.root, [], ctxFor(f, f.ids.root)), 'CHANGE_REFUSED');
    await assertAppError(() => planChanges(f.root, [{ kind: 'prod-targets-threshold', threshold: 2 }], ctxFor(f, f.ids.root)), 'CHANGE_REFUSED');
  });
});

describe('planChanges (FoundriesFactory)', () => {
  it('add a targets key + production targets threshold 2: prod differs from CI only there; owner recorded', async () => {
    const f = await makeRoot('foundries');
    const k = await generateKey('ed25519');
    const plan = planChanges(f.root, [
      { kind: 'add-key', role: 'targets', newKey: k.publicKey },
      { kind: 'prod-targets-threshold', threshold: 2 },
    ], ctxFor(f, f.ids.root, { polisId: 'user-b', changelog: 'add a targets key' }));
    const id = keyIdFor('foundries', k.publicKey);
    assert.deepEqual((plan.newSigned.roles as JsonObject)['targets'], { keyids: [f.ids.targets[0] as string, id], threshold: 1 });
    assert.deepEqual(((plan.prodSigned?.roles as JsonObject)['targets'] as JsonObject)['threshold'], 2);
    assert.deepEqual((plan.newSigned['x-key-owners'] as JsonObject)[id], { 'polis-id': 'user-b', 'created-at': '2026-03-01T10:00:00Z' });
    assert.equal((plan.newSigned['x-changelog'] as JsonObject)['message'], 'add a targets key');
    await signAndCheck(f, plan, [k]);
  });

  it('root: add key + threshold 2 goes to CI and prod alike; --owner names the owner', async () => {
    const f = await makeRoot('foundries');
    const k = await generateKey('rsa');
    const plan = planChanges(f.root, [
      { kind: 'add-key', role: 'root', newKey: k.publicKey, owner: 'admin-b' },
      { kind: 'threshold', role: 'root', threshold: 2 },
    ], ctxFor(f, f.ids.root, { polisId: 'admin-a' }));
    assert.deepEqual((plan.prodSigned?.roles as JsonObject)['root'], (plan.newSigned.roles as JsonObject)['root']);
    const id = keyIdFor('foundries', k.publicKey);
    assert.equal(((plan.newSigned['x-key-owners'] as JsonObject)[id] as JsonObject)['polis-id'], 'admin-b');
    const rules = signatureNeeds(plan, f.ids.root);
    assert.equal(unmetRules(rules)[0]?.keys.find((x) => !x.available)?.owner, 'admin-b');
    await signAndCheck(f, plan, [k]);
  });

  it('rotate the root key reuses planRootRotation: one year, the held key replaced', async () => {
    const f = await makeRoot('foundries', { rootKeys: 2 });
    const k = await generateKey('ed25519');
    const plan = planChanges(f.root, [{ kind: 'rotate-key', role: 'root', newKey: k.publicKey }], ctxFor(f, [f.ids.root[1] as string], { polisId: 'p' }));
    assert.deepEqual(plan.replaced, [{ role: 'root', keyid: f.ids.root[1] }]);
    assert.equal(plan.newSigned.expires, '2027-03-01T10:00:00Z');
    await signAndCheck(f, plan, [k]);
    await assertAppError(() => planChanges(f.root, [{ kind: 'rotate-key', role: 'root', newKey: k.publicKey }], ctxFor(f, [])), 'CHANGE_REFUSED');
  });

  it('refuses what a Factory refuses', async () => {
    const f = await makeRoot('foundries', { offlineTargets: true });
    const ctx = ctxFor(f, f.ids.root, { onlineKeyIds: { targets: f.ids.targets[0] as string, snapshot: f.ids.snapshot, timestamp: f.ids.timestamp } });
    const ec = await generateKey('ecdsa');
    await assertAppError(() => planChanges(f.root, [{ kind: 'threshold', role: 'targets', threshold: 2 }], ctx), 'CHANGE_REFUSED');
    await assertAppError(() => planChanges(f.root, [{ kind: 'prod-targets-threshold', threshold: 1 }], ctx), 'CHANGE_REFUSED');
    await assertAppError(() => planChanges(f.root, [{ kind: 'prod-targets-threshold', threshold: 3 }], ctx), 'ROTATION_LOCKOUT');
    await assertAppError(() => planChanges(f.root, [{ kind: 'remove-key', keyid: f.ids.targets[0] as string }], ctx), 'CHANGE_REFUSED');
    await assertAppError(() => planChanges(f.root, [{ kind: 'remove-key', keyid: f.ids.snapshot }], ctx), 'CHANGE_REFUSED');
    await assertAppError(() => planChanges(f.root, [{ kind: 'add-key', role: 'root', newKey: ec.publicKey }], ctx), 'KEY_TYPE_UNSUPPORTED');
    await assertAppError(() => planChanges(f.root, [{ kind: 'add-key', role: 'snapshot', newKey: ec.publicKey }], ctx), 'CHANGE_REFUSED');
    // Removing the only offline targets key with prod threshold 2: the online key alone cannot reach 2.
    await assertAppError(() => planChanges(f.root, [{ kind: 'remove-key', keyid: f.ids.targets[1] as string }], ctx), 'ROTATION_LOCKOUT');
  });

  it('rotate the online keys: the Factory generates them (noted, root unchanged here)', async () => {
    const f = await makeRoot('foundries');
    const plan = planChanges(f.root, [{ kind: 'rotate-online-keys', roles: [] }, { kind: 'refresh-expiry' }], ctxFor(f, f.ids.root));
    assert.deepEqual(plan.serverOnlineKeys, ['targets', 'snapshot', 'timestamp']);
    assert.deepEqual(plan.newSigned.roles, JSON.parse(JSON.stringify(f.root.signedJson.roles)));
  });
});

describe('resignRepoMetadata', () => {
  it('new versions of targets, snapshot and timestamp with the new keys, refusing a missing key first', async () => {
    const f = await makeRoot('spec');
    const k = await generateKey('ed25519');
    const plan = planChanges(f.root, [{ kind: 'rotate-key', role: 'targets', newKey: k.publicKey }], ctxFor(f, [...f.keys.keys()]));
    const doc = (signed: JsonObject): string => JSON.stringify({ signatures: [], signed });
    const exp = formatExpires(new Date(NOW.getTime() + 10 * DAY));
    const current = {
      targets: doc({ _type: 'targets', version: 4, expires: exp, targets: {} }),
      snapshot: doc({ _type: 'snapshot', version: 7, expires: exp, meta: { 'targets.json': { version: 4 } } }),
      timestamp: doc({ _type: 'timestamp', version: 9, expires: formatExpires(new Date(NOW.getTime() + 3600_000)), meta: { 'snapshot.json': { version: 7, length: 1, hashes: { sha256: '00' } } } }),
    };
    const signers = new Map<string, Signer>([[keyIdFor('spec', k.publicKey), new LocalSigner(k)]]);
    await assertAppError(() => resignRepoMetadata({ newRoot: plan.newSigned, current, roles: metadataToResign(plan), signers, now: NOW }), 'CHANGE_REFUSED');
    signers.set(f.ids.snapshot, new LocalSigner(f.keys.get(f.ids.snapshot) as PrivateKey));
    signers.set(f.ids.timestamp, new LocalSigner(f.keys.get(f.ids.timestamp) as PrivateKey));
    const files = await resignRepoMetadata({ newRoot: plan.newSigned, current, roles: metadataToResign(plan), signers, now: NOW });
    assert.deepEqual(files.map((x) => x.name), ['5.targets.json', 'targets.json', '8.snapshot.json', 'snapshot.json', 'timestamp.json']);
    const ts = JSON.parse(files[4]?.text ?? '') as { signed: { version: number; expires: string; meta: Record<string, { version: number; length: number; hashes: { sha256: string } }> } };
    assert.equal(ts.signed.version, 10);
    assert.equal(ts.signed.meta['snapshot.json']?.version, 8);
    assert.equal(ts.signed.meta['snapshot.json']?.length, Buffer.byteLength(files[3]?.text ?? ''));
    assert.equal(ts.signed.expires, formatExpires(new Date(NOW.getTime() + 7 * DAY)), 'an expiry within a day is renewed');
    const snap = JSON.parse(files[3]?.text ?? '') as { signed: { meta: Record<string, { version: number }> } };
    assert.deepEqual(snap.signed.meta['targets.json'], { version: 5 });
  });
});
