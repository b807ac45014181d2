/**
 * The practice factory's strict rules (foundries-operations.md §6) over real HTTP on loopback:
 * several admins and the txid rules (§6.1), the PUT rules (§6.3, each refusal naming its rule),
 * gen-online-keys (E14, §6.4), production tags and waves (E15/E16, rules 25, 31, 36), and the
 * FoundriesClient's refusal messages (code, the server's reason, and a hint that names the state).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { findRoleSigner, readKeyArchive } from '../../server/archive/read.js';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { factoryState } from '../../server/backends/foundries.js';
import { cloneJson } from '../../server/tuf/json.js';
import type { JsonObject } from '../../server/tuf/json.js';
import { generateKey, keyIdFoundries, newRootKeyJson, parseArchiveSecret } from '../../server/tuf/keys.js';
import type { PrivateKey } from '../../server/tuf/keys.js';
import { toDocument } from '../../server/tuf/metadata.js';
import type { Root, RootDocument } from '../../server/tuf/model.js';
import { LocalSigner, signRoot } from '../../server/tuf/sign.js';
import { verifyRootUpdate } from '../../server/tuf/verify.js';
import { addPracticeUsers, addPracticeWave, createPracticeFactory, TARGETS_ARCHIVE_FILE } from '../../server/practice/create.js';
import type { PracticeFactoryInfo } from '../../server/practice/create.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import { assertAppError } from '../helpers/assert-app-error.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface P {
  info: PracticeFactoryInfo;
  app: FastifyInstance;
  url: string;
  owner: FoundriesClient;
  b: FoundriesClient;
  rootKey: PrivateKey;
  targetsKey: { key: PrivateKey; keyid: string };
}

async function practice(o: { wave?: boolean } = {}): Promise<P> {
  const tmp = await mkdtemp(path.join(tmpdir(), 'tuf-rotate-rules-'));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));
  const info = await createPracticeFactory(path.join(tmp, 'f'), { rootKeyType: 'ed25519' });
  const users = await addPracticeUsers(info.dir, ['admin-b']);
  if (o.wave === true) await addPracticeWave(info.dir, 'wave-1');
  const app = await buildPracticeFactory(info.dir);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => app.close());
  const client = async (file: string): Promise<FoundriesClient> =>
    new FoundriesClient({ apiUrl: url, factory: info.factory, token: (await readFile(file, 'utf8')).trim() });
  const owner = await client(info.tokenFile);
  const b = await client(users[1]?.tokenFile ?? '');
  const archive = await readKeyArchive(await readFile(info.archivePath ?? ''));
  const rootKey = findRoleSigner(archive, await owner.currentRoot()).privateKey;
  const targetsArchive = await readKeyArchive(await readFile(path.join(info.dir, TARGETS_ARCHIVE_FILE)));
  const t = findRoleSigner(targetsArchive, await owner.currentRoot(), 'targets');
  return { info, app, url, owner, b, rootKey, targetsKey: { key: t.privateKey, keyid: t.keyid } };
}

/** The staged roots, edited by `edit` (both), signed by the current root key. */
async function staged(p: P, edit: (signed: JsonObject, which: 'ci' | 'prod') => void | Promise<void> = () => {}): Promise<{ ci: RootDocument; prod: RootDocument }> {
  const u = await p.owner.updates();
  assert.ok(u.updated?.prodRoot);
  const out: Partial<Record<'ci' | 'prod', RootDocument>> = {};
  for (const which of ['ci', 'prod'] as const) {
    const root = which === 'ci' ? u.updated.ciRoot : u.updated.prodRoot;
    const signed = cloneJson(root.signedJson);
    await edit(signed, which);
    const keyid = u.updated.ciRoot.roles['root']?.keyids[0] ?? '';
    out[which] = toDocument(signed, await signRoot('foundries', signed, [{ keyid, signer: new LocalSigner(p.rootKey) }]));
  }
  return { ci: out.ci as RootDocument, prod: out.prod as RootDocument };
}

const roles = (s: JsonObject): Record<string, JsonObject> => s['roles'] as Record<string, JsonObject>;
const keys = (s: JsonObject): Record<string, JsonObject> => s['keys'] as Record<string, JsonObject>;

async function refusedPut(p: P, roots: { ci: RootDocument; prod: RootDocument }, rule: RegExp, extra: JsonObject = {}): Promise<void> {
  const e = await assertAppError(() => p.owner.put({ txid: '', ciRoot: roots.ci, prodRoot: roots.prod, ...extra }), 'TARGET_REFUSED');
  assert.match(e.message, rule);
  assert.match(e.hint, /No changes were made to your Factory/);
}

describe('practice factory §6 rules (real HTTP)', () => {
  it('§6.1: admins with own polis-ids; only the initiator may omit the txid; any admin may cancel; 409 while open', async () => {
    const p = await practice();
    const [a, b] = [await p.owner.self(), await p.b.self()];
    assert.notEqual(a.polisId, b.polisId);
    const { txid } = await p.b.init({ message: 'B starts', firstTime: false, shortcut: false });
    assert.match(txid, /^[A-Z]{8}$/);
    await assertAppError(() => p.owner.init({ message: 'again', firstTime: false, shortcut: false }), 'TARGET_CONFLICT');
    const u = await p.owner.updates();
    assert.equal(u.changeMeta?.createdBy, b.polisId);
    assert.equal(u.updated?.ciRoot.changelog?.polisId, b.polisId);
    const roots = await staged(p);
    // The owner is not the initiator: no txid or a wrong one → 403.
    const e = await assertAppError(() => p.owner.put({ txid: '', ciRoot: roots.ci, prodRoot: roots.prod }), 'TARGET_AUTH_FAILED');
    assert.match(e.message, /HTTP 403.*initiated/);
    assert.match(e.hint, /transaction ID \(--txid\)/);
    await assertAppError(() => p.owner.put({ txid: 'WRONGTXD', ciRoot: roots.ci, prodRoot: roots.prod }), 'TARGET_AUTH_FAILED');
    await p.owner.put({ txid, ciRoot: roots.ci, prodRoot: roots.prod });
    await p.b.put({ txid: '', ciRoot: roots.ci, prodRoot: roots.prod });
    // Any admin cancels; the txid is dead afterwards.
    await p.owner.cancel();
    await assertAppError(() => p.b.apply(txid), 'TARGET_CONFLICT');
    assert.equal((await factoryState(p.owner)).status, 'NONE');
  });

  it('§6.3: every PUT rule refuses with its rule number (14, 17, 18, 19, 20, 21)', async () => {
    const p = await practice();
    await p.owner.init({ message: 'rules', firstTime: false, shortcut: false });
    const self = await p.owner.self();
    await refusedPut(p, await staged(p, (s) => void ((s['x-changelog'] as JsonObject)['message'] = 'changed')), /rule 14/);
    await refusedPut(p, await staged(p, (s, w) => void (w === 'ci' && (roles(s)['targets']!['threshold'] = 2))), /rule 17: ci-root: roles\.targets\.threshold must be 1/);
    await refusedPut(p, await staged(p, (s) => {
      roles(s)['snapshot']!['keyids'] = [roles(s)['timestamp']!['keyids'] as unknown as string].flat();
    }), /rule 18/);
    await refusedPut(p, await staged(p, (s) => {
      const id = (roles(s)['snapshot']!['keyids'] as string[])[0] ?? '';
      const k = keys(s)[id]!;
      (k['keyval'] as JsonObject)['public'] = String((k['keyval'] as JsonObject)['public']).toUpperCase();
    }), /rule 19/);
    const extra = await generateKey('ed25519');
    await refusedPut(p, await staged(p, (s) => {
      keys(s)['ab'.repeat(32)] = newRootKeyJson('foundries', extra.publicKey);
      (roles(s)['targets']!['keyids'] as string[]).push('ab'.repeat(32));
    }), /rule 20: .*must have the key ID sha256/);
    const extraId = keyIdFoundries(extra.publicKey);
    const stamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    await refusedPut(p, await staged(p, (s) => {
      keys(s)[extraId] = newRootKeyJson('foundries', extra.publicKey);
      (roles(s)['targets']!['keyids'] as string[]).push(extraId);
      s['x-key-owners'] = { [extraId]: { 'polis-id': 'someone-else', 'created-at': stamp } };
    }), /rule 21: .*must be owned by the user uploading it/);
    await refusedPut(p, await staged(p, (s) => {
      keys(s)[extraId] = newRootKeyJson('foundries', extra.publicKey);
      (roles(s)['targets']!['keyids'] as string[]).push(extraId);
      s['x-key-owners'] = { [extraId]: { 'polis-id': self.polisId, 'created-at': '2020-01-01T00:00:00Z' } };
    }), /rule 21: .*created-at must be now/);
    // The same new key, owned by the caller now: accepted (and apply needs the tag signed: rule 31 below).
    await p.owner.put({
      txid: '',
      ...(await staged(p, (s) => {
        keys(s)[extraId] = newRootKeyJson('foundries', extra.publicKey);
        (roles(s)['targets']!['keyids'] as string[]).push(extraId);
        s['x-key-owners'] = { [extraId]: { 'polis-id': self.polisId, 'created-at': stamp } };
      }).then((r) => ({ ciRoot: r.ci, prodRoot: r.prod }))),
    });
  });

  it('§5 flow: B adds an own root key (txid), A sets threshold 2, A and B sign in turn, A applies', async () => {
    const p = await practice();
    const v1 = await p.owner.currentRoot();
    const { txid } = await p.owner.init({ message: 'Add B as a root key holder', firstTime: false, shortcut: false });
    const bSelf = await p.b.self();
    const bKey = await generateKey('ed25519');
    const bId = keyIdFoundries(bKey.publicKey);
    const aId = v1.roles['root']?.keyids[0] ?? '';
    const stamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const current = async (): Promise<{ ci: RootDocument; prod: RootDocument }> => {
      const u = (await p.owner.updates()).updated;
      assert.ok(u?.prodRoot);
      const doc = (r: Root): RootDocument => toDocument(cloneJson(r.signedJson), r.signatures.map((x) => x.json));
      return { ci: doc(u.ciRoot), prod: doc(u.prodRoot) };
    };
    // B (own token, own key, own polis-id), with the txid; unsigned upload.
    let r = await current();
    for (const d of [r.ci, r.prod]) {
      keys(d.signed)[bId] = newRootKeyJson('foundries', bKey.publicKey);
      (roles(d.signed)['root']!['keyids'] as string[]).push(bId);
      d.signed['x-key-owners'] = { [bId]: { 'polis-id': bSelf.polisId, 'created-at': stamp } };
    }
    await assertAppError(() => p.b.put({ txid: '', ciRoot: r.ci, prodRoot: r.prod }), 'TARGET_AUTH_FAILED');
    await p.b.put({ txid, ciRoot: r.ci, prodRoot: r.prod });
    // A: threshold 2 (unsigned), then A signs.
    r = await current();
    for (const d of [r.ci, r.prod]) roles(d.signed)['root']!['threshold'] = 2;
    await p.owner.put({ txid: '', ciRoot: r.ci, prodRoot: r.prod });
    r = await current();
    for (const d of [r.ci, r.prod]) d.signatures = await signRoot('foundries', d.signed, [{ keyid: aId, signer: new LocalSigner(p.rootKey) }]);
    await p.owner.put({ txid: '', ciRoot: r.ci, prodRoot: r.prod });
    const e = await assertAppError(() => p.owner.apply(''), 'TARGET_REFUSED');
    assert.match(e.message, /signed by 1 of its own root keys, 2 needed/);
    // B signs, keeping A's signature.
    r = await current();
    for (const d of [r.ci, r.prod]) d.signatures = [...(await signRoot('foundries', d.signed, [{ keyid: bId, signer: new LocalSigner(bKey) }])), ...d.signatures];
    await p.b.put({ txid, ciRoot: r.ci, prodRoot: r.prod });
    await p.owner.apply('');
    const v2 = await p.owner.currentRoot();
    assert.deepEqual(v2.roles['root'], { keyids: [aId, bId], threshold: 2 });
    assert.equal(v2.keyOwners?.[bId]?.polisId, bSelf.polisId);
    assert.ok(verifyRootUpdate(v1, v2, { now: new Date() }).ok);
    const prod1 = (await p.owner.rootVersion(1, true)) ?? v1;
    assert.ok(verifyRootUpdate(prod1, await p.owner.currentRoot(true), { now: new Date() }).ok);
  });

  it('E15/E16 and rules 25, 31: production tag signatures are checked at PUT and required at apply', async () => {
    const p = await practice();
    const tags = await p.owner.prodTargets();
    assert.deepEqual(Object.keys(tags), ['main']);
    assert.equal(tags['main']?.signatures.length, 2);
    assert.deepEqual(JSON.parse(tags['main']?.signedText ?? ''), tags['main']?.signed);
    assert.deepEqual(await p.owner.prodTargets(['nope']), {}); // 404 for an unknown tag
    assert.deepEqual(await p.owner.waveTargets(), {}); // no active wave: 404

    // Rotate the offline targets key: drop the old one, add a new one (prod threshold stays 2).
    await p.owner.init({ message: 'Rotate TUF targets offline signing key', firstTime: false, shortcut: false });
    const self = await p.owner.self();
    const nk = await generateKey('ed25519');
    const nid = keyIdFoundries(nk.publicKey);
    const stamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const roots = await staged(p, (s) => {
      const t = roles(s)['targets']!;
      t['keyids'] = (t['keyids'] as string[]).filter((k) => k !== p.targetsKey.keyid).concat(nid);
      delete keys(s)[p.targetsKey.keyid];
      keys(s)[nid] = newRootKeyJson('foundries', nk.publicKey);
      s['x-key-owners'] = { [nid]: { 'polis-id': self.polisId, 'created-at': stamp } };
    });
    const main = tags['main'];
    assert.ok(main);
    const good = await signRoot('foundries', main.signed, [{ keyid: nid, signer: new LocalSigner(nk) }]);
    const online = (await p.owner.updates()).current.onlineKeys.targets ?? '';
    const onlineKey = parseArchiveSecret(JSON.parse(await readFile(path.join(p.info.dir, 'server-keys', 'targets-online.sec'), 'utf8')) as JsonObject);
    const byOnline = await signRoot('foundries', main.signed, [{ keyid: online, signer: new LocalSigner(onlineKey) }]);
    await refusedPut(p, roots, /rule 25: targets-signatures: there is no production tag "nope"/, { targetsSignatures: { nope: good } });
    await refusedPut(p, roots, /rule 25: .*online targets key/, { targetsSignatures: { main: byOnline } });
    await refusedPut(p, roots, /rule 25: .*does not verify/, { targetsSignatures: { main: [{ ...good[0], sig: byOnline[0]?.['sig'] ?? '' }] } });

    // Without the tag re-signed, apply is refused (rule 31); nothing changes.
    await p.owner.put({ txid: '', ciRoot: roots.ci, prodRoot: roots.prod });
    const e = await assertAppError(() => p.owner.apply(''), 'TARGET_REFUSED');
    assert.match(e.message, /rule 31: production tag "main" would have 1 valid targets signatures, 2 needed/);
    assert.match(e.hint, /No changes were made/);
    // A PUT with the tag signed by the new key; a later PUT without the map keeps it (rule 12).
    await p.owner.put({ txid: '', ciRoot: roots.ci, prodRoot: roots.prod, targetsSignatures: { main: good } });
    await p.owner.put({ txid: '', ciRoot: roots.ci, prodRoot: roots.prod });
    await p.owner.apply('');
    const after = await p.owner.prodTargets(['main']);
    assert.deepEqual(after['main']?.signatures.map((s) => s['keyid']).sort(), [online, nid].sort());
    assert.equal((await p.owner.currentRoot(true)).version, 2);
  });

  it('E14 gen-online-keys: new online keys in both staged roots, signatures cleared; refused with an active wave and while applying', async () => {
    const p = await practice();
    await p.owner.init({ message: 'Rotate online keys', firstTime: false, shortcut: false });
    const before = await p.owner.updates();
    await p.owner.genOnlineKeys({ txid: '', keyType: 'ED25519', roles: ['snapshot', 'timestamp'] });
    const u = await p.owner.updates();
    const snap = u.updated?.onlineKeys.snapshot ?? '';
    assert.notEqual(snap, before.current.onlineKeys.snapshot);
    assert.deepEqual(u.updated?.ciRoot.roles['snapshot']?.keyids, [snap]);
    assert.deepEqual(u.updated?.prodRoot?.roles['snapshot']?.keyids, [snap]);
    assert.equal(u.updated?.ciRoot.keys[before.current.onlineKeys.snapshot ?? ''], undefined);
    assert.equal(u.updated?.onlineKeys.targets, before.current.onlineKeys.targets);
    // Sign and apply: the Factory's online keys are the new ones.
    const roots = await staged(p);
    await p.owner.put({ txid: '', ciRoot: roots.ci, prodRoot: roots.prod });
    await p.owner.apply('');
    assert.equal((await p.owner.updates()).current.onlineKeys.snapshot, snap);
    assert.deepEqual((await p.owner.currentRoot()).roles['snapshot']?.keyids, [snap]);
    // A second admin needs the txid for E14 too.
    const { txid } = await p.owner.init({ message: 'again', firstTime: false, shortcut: false });
    await assertAppError(() => p.b.genOnlineKeys({ txid: '', keyType: 'ED25519', roles: ['targets'] }), 'TARGET_AUTH_FAILED');
    await p.b.genOnlineKeys({ txid, keyType: 'RSA', roles: ['targets'] });
    assert.equal((await p.owner.updates()).updated?.ciRoot.keys[(await p.owner.updates()).updated?.onlineKeys.targets ?? '']?.keytype, 'RSA');

    const w = await practice({ wave: true });
    assert.deepEqual(Object.keys(await w.owner.waveTargets()), ['wave-1']);
    await w.owner.init({ message: 'online', firstTime: false, shortcut: false });
    const e = await assertAppError(() => w.owner.genOnlineKeys({ txid: '', keyType: 'ED25519', roles: ['targets'] }), 'TARGET_CONFLICT');
    assert.match(e.message, /wave is active/);
  });
});
