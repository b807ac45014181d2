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
import { generateKey } from '../../server/tuf/private-key.js';
import { keyIdFoundries, newRootKeyJson } from '../../server/tuf/public-key.js';
import { parseArchiveSecret } from '../../server/tuf/archive-keys.js';
import type { PrivateKey } from '../../server/tuf/private-key.js';
import { toDocument } from '../../server/tuf/metadata.js';
import type { Root, RootDocument } from '../../server/tuf/model.js';
import { LocalSigner, signRoot } from '../../server/tuf/sign.js';
import { verifyRootUpdate } from '../../server/tuf/verify.js';
import { addPracticeUsers, addPracticeWave, createPracticeFactory, TARGETS_ARCHIVE_FILE } from '../../server/practice/create.js';
import type { PracticeFactoryInfo } from '../../server/practice/create.js';
import { buildPracticeFactory, practiceControl } from '../../server/practice/factory-server.js';
import type { PracticeFactoryOptions } from '../../server/practice/factory-server.js';
import { practiceTargetsSigned, signTargets } from '../../server/practice/targets.js';
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
  /** API tokens: the owner's and admin-b's. */
  tokens: { owner: string; b: string };
}

async function practice(o: { wave?: boolean; options?: PracticeFactoryOptions } = {}): Promise<P> {
  const tmp = await mkdtemp(path.join(tmpdir(), 'tuf-rotate-rules-'));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));
  const info = await createPracticeFactory(path.join(tmp, 'f'), { rootKeyType: 'ed25519' });
  const users = await addPracticeUsers(info.dir, ['admin-b']);
  if (o.wave === true) await addPracticeWave(info.dir, 'wave-1');
  const app = await buildPracticeFactory(info.dir, o.options ?? {});
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
  const tokens = { owner: (await readFile(info.tokenFile, 'utf8')).trim(), b: (await readFile(users[1]?.tokenFile ?? '', 'utf8')).trim() };
  return { info, app, url, owner, b, rootKey, targetsKey: { key: t.privateKey, keyid: t.keyid }, tokens };
}

/** One raw request to the practice factory (status and JSON body), as the given admin. */
async function raw(p: P, method: string, route: string, body?: unknown, who: 'owner' | 'b' = 'owner'): Promise<{ status: number; json: JsonObject }> {
  const res = await fetch(p.url + route.replace('{F}', p.info.factory), {
    method,
    headers: { 'OSF-TOKEN': p.tokens[who], ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: (text === '' ? {} : JSON.parse(text)) as JsonObject };
}

const UPDATES = '/ota/repo/{F}/api/v1/user_repo/root/updates';

/**
 * A refusal: this status, the Foundries body shape `{message, errors[]}`, and an errors line that
 * names the rule (`rule N:`), matching `line` when given.
 */
function assertRule(r: { status: number; json: JsonObject }, status: number, rule: number, line?: RegExp): void {
  const body = JSON.stringify(r.json);
  assert.equal(r.status, status, body);
  assert.deepEqual(Object.keys(r.json).sort(), ['errors', 'message'], body);
  assert.equal(typeof r.json['message'], 'string');
  assert.ok(Array.isArray(r.json['errors']) && r.json['errors'].every((e) => typeof e === 'string'), body);
  const lines = r.json['errors'] as string[];
  const named = lines.filter((e) => e.startsWith(`rule ${rule}:`) || e.includes(`(rule ${rule})`));
  assert.ok(named.length > 0, `no line names rule ${rule}: ${body}`);
  if (line !== undefined) assert.ok(named.some((e) => line.test(e)), `no rule ${rule} line matches ${String(line)}: ${body}`);
}

/** A PUT body of the staged roots edited by `edit`, signed by the current root key. */
async function putBody(p: P, edit: (signed: JsonObject, which: 'ci' | 'prod') => void | Promise<void> = () => {}, extra: JsonObject = {}): Promise<JsonObject> {
  const r = await staged(p, edit);
  return { txid: '', 'ci-root': r.ci as unknown as JsonObject, 'prod-root': r.prod as unknown as JsonObject, ...extra };
}

/** Polls the updates status (state, not time) until it is `status`. */
async function untilStatus(p: P, status: string): Promise<void> {
  for (;;) {
    if ((await p.owner.updates()).status === status) return;
    await new Promise((r) => setTimeout(r, 20));
  }
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
    assert.match(e.message, /wave is active.*rule 32: active wave "wave-1"/);
    assert.match(e.hint, /wave/);
  });
});

describe('practice factory §6: each refusal over raw HTTP (status, body shape, rule number)', () => {
  it('§6.1 rules 1–6: one transaction, APPLYING, the init body, the txid, first-time', async () => {
    const p = await practice();
    assertRule(await raw(p, 'POST', UPDATES, { message: 'caf\u00e9', 'first-time': false, shortcut: false }), 400, 3, /printable ASCII/);
    assertRule(await raw(p, 'POST', UPDATES, { message: 'x', 'first-time': false, shortcut: false, extra: 1 }), 400, 3, /unknown field "extra"/);
    assertRule(await raw(p, 'POST', UPDATES, { message: 'x', 'first-time': true, shortcut: false }), 400, 6, /already handed/);
    assertRule(await raw(p, 'POST', `${UPDATES}/cancel`), 404, 2, /no open transaction/);
    const started = await raw(p, 'POST', UPDATES, { message: 'one', 'first-time': false, shortcut: false });
    assert.equal(started.status, 200);
    const txid = String(started.json['txid']);
    assertRule(await raw(p, 'POST', UPDATES, { message: 'two', 'first-time': false, shortcut: false }, 'b'), 409, 1, /transaction is open/);
    // Rule 4: anyone but the initiator needs the exact txid (PUT, apply, E14).
    const body = await putBody(p);
    assertRule(await raw(p, 'PUT', UPDATES, body, 'b'), 403, 4, /txid/);
    assertRule(await raw(p, 'PUT', UPDATES, { ...body, txid: 'WRONGTXD' }, 'b'), 403, 4);
    assertRule(await raw(p, 'POST', `${UPDATES}/apply`, { txid: '' }, 'b'), 403, 4);
    assertRule(await raw(p, 'POST', `${UPDATES}/gen-online-keys`, { txid: '', 'key-type': 'ED25519', snapshot: true }, 'b'), 403, 4);
    // Rule 5: a finished transaction's txid is dead; a new transaction's is another.
    assert.equal((await raw(p, 'POST', `${UPDATES}/cancel`, undefined, 'b')).status, 200);
    const again = await raw(p, 'POST', UPDATES, { message: 'three', 'first-time': false, shortcut: false });
    assert.notEqual(again.json['txid'], txid);
    assertRule(await raw(p, 'POST', `${UPDATES}/apply`, { txid }, 'b'), 403, 4, /rule 5/);
    // Rule 2: a partial apply leaves APPLYING: PUT, E14 and cancel refused (423); apply again finishes.
    assert.equal((await raw(p, 'PUT', UPDATES, await putBody(p))).status, 200);
    practiceControl(p.app).setFaults({ applyStatus: 503, applyOnce: true });
    assert.equal((await raw(p, 'POST', `${UPDATES}/apply`, { txid: '' })).status, 503);
    assert.equal((await p.owner.updates()).status, 'APPLYING');
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p)), 423, 2, /APPLYING/);
    assertRule(await raw(p, 'POST', `${UPDATES}/gen-online-keys`, { txid: '', 'key-type': 'ED25519', snapshot: true }), 423, 2);
    assertRule(await raw(p, 'POST', `${UPDATES}/cancel`), 423, 2);
    assert.equal((await raw(p, 'POST', `${UPDATES}/apply`, { txid: '' })).status, 200);
    // Rule 35: apply with nothing in progress.
    assertRule(await raw(p, 'POST', `${UPDATES}/apply`, { txid: '' }), 404, 35);
  });

  it('§6.3 rules 11, 13–23, 25: PUT refusals', async () => {
    const p = await practice();
    await p.owner.init({ message: 'put rules', firstTime: false, shortcut: false });
    const good = await putBody(p);
    assertRule(await raw(p, 'PUT', UPDATES, { txid: '', 'ci-root': good['ci-root'] }), 400, 11, /"prod-root" is required/);
    assertRule(await raw(p, 'PUT', UPDATES, { ...good, extra: 1 }), 400, 11, /unknown field "extra"/);
    assertRule(await raw(p, 'PUT', UPDATES, { ...good, 'ci-root': 'not a root' }), 400, 11);
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p, (s) => void (s['version'] = Number(s['version']) + 1))), 422, 13, /must be exactly 2/);
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p, (s) => void (s['x-extra'] = 1))), 422, 15, /unknown field "x-extra"/);
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p, (s) => void (roles(s)['mirror'] = { keyids: [], threshold: 1 }))), 422, 15);
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p, (s, w) => void (w === 'prod' && (s['expires'] = '2099-01-01T00:00:00Z')))), 422, 16);
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p, (s, w) => void (w === 'prod' && (roles(s)['targets']!['threshold'] = 1)))), 422, 17, /at least 2/);
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p, (s) => void (roles(s)['root']!['threshold'] = 2))), 422, 17, /not between 1 and its 1 keys/);
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p, (s) => void (roles(s)['snapshot']!['threshold'] = 2))), 422, 17);
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p, (s) => void (roles(s)['root']!['keyids'] as string[]).push('cd'.repeat(32)))), 422, 19, /not in keys/);
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p, (s) => {
      const id = (roles(s)['snapshot']!['keyids'] as string[])[0] ?? '';
      keys(s)[id]!['keytype'] = 'ECDSA';
    })), 422, 19, /only RSA and ED25519/);
    const stamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p, (s) => void (s['x-key-owners'] = { ['ef'.repeat(32)]: { 'polis-id': 'x', 'created-at': stamp } }))), 422, 21, /not in keys/);
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p, (s) => void ((s['x-changelog'] as JsonObject)['message'] = 'changed'))), 422, 14);
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p, (s) => void (roles(s)['timestamp']!['keyids'] = roles(s)['snapshot']!['keyids'] ?? []))), 422, 18, /online timestamp key/);
    const extra = await generateKey('ed25519');
    const extraId = keyIdFoundries(extra.publicKey);
    const addExtra = (owner: string) => (s: JsonObject): void => {
      keys(s)[extraId] = newRootKeyJson('foundries', extra.publicKey);
      (roles(s)['root']!['keyids'] as string[]).push(extraId);
      s['x-key-owners'] = { [extraId]: { 'polis-id': owner, 'created-at': stamp } };
    };
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p, (s) => {
      keys(s)['ab'.repeat(32)] = newRootKeyJson('foundries', extra.publicKey);
      (roles(s)['root']!['keyids'] as string[]).push('ab'.repeat(32));
    })), 422, 20, /sha256\(SPKI DER\)/);
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p, addExtra('someone-else'))), 422, 21, /owned by the user uploading it/);
    assertRule(await raw(p, 'PUT', UPDATES, { ...good, 'targets-signatures': { nope: [] } }), 400, 25, /no production tag "nope"/);
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p, (s) => void (s['expires'] = '2020-01-01T00:00:00Z'))), 422, 22, /in the past/);
    assertRule(await raw(p, 'PUT', UPDATES, await putBody(p, (s) => void (s['expires'] = '2099-01-01T00:00:00.000Z'))), 422, 22, /YYYY-MM-DDTHH:MM:SSZ/);
    const sig = (good['ci-root'] as JsonObject)['signatures'] as JsonObject[];
    const withSigs = (sigs: JsonObject[]): JsonObject => ({ ...good, 'ci-root': { ...(good['ci-root'] as JsonObject), signatures: sigs } });
    assertRule(await raw(p, 'PUT', UPDATES, withSigs([{ ...sig[0], sig: Buffer.alloc(64).toString('base64') }])), 422, 23, /does not verify/);
    assertRule(await raw(p, 'PUT', UPDATES, withSigs([{ ...sig[0], method: 'rsassa-pss-sha512' }])), 422, 23, /unknown method/);
    assertRule(await raw(p, 'PUT', UPDATES, withSigs([sig[0] ?? {}, sig[0] ?? {}])), 422, 23, /signed twice/);
    assertRule(await raw(p, 'PUT', UPDATES, withSigs([{ ...sig[0], extra: 'x' }])), 422, 23, /unknown field "extra"/);
    // Rule 22: an expiry more than 366 days ahead is staged, with a review warning only (docs conflict).
    const late = new Date(Date.now() + 2 * 366 * 24 * 3600 * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    assert.equal((await raw(p, 'PUT', UPDATES, await putBody(p, (s) => void (s['expires'] = late)))).status, 200);
    assert.ok((await p.owner.updates()).issues.warnings.some((w) => w.kind === 'root-expires-late'));
    // Nothing was staged by the refusals: the good body is still accepted, unsigned roots too (rule 23).
    assert.equal((await raw(p, 'PUT', UPDATES, good)).status, 200);
    assert.equal((await raw(p, 'PUT', UPDATES, { ...good, 'ci-root': { ...(good['ci-root'] as JsonObject), signatures: [] }, 'prod-root': { ...(good['prod-root'] as JsonObject), signatures: [] } })).status, 200);
    // Rules 29, 30: the unsigned roots are listed as review errors, and apply is refused with them.
    const u = await p.owner.updates();
    assert.ok(u.issues.errors.length > 0, 'review lists what blocks apply');
    assertRule(await raw(p, 'POST', `${UPDATES}/apply`, { txid: '' }), 422, 29, /signed by 0 of the current root keys, 1 needed/);
  });

  it('§6.4 rules 26, 28: gen-online-keys body and an expired staged root', async () => {
    const later = new Date(Date.now() + 2 * 366 * 24 * 3600 * 1000);
    const p = await practice({ options: { now: () => later } });
    await p.owner.init({ message: 'online keys', firstTime: false, shortcut: false });
    const e14 = `${UPDATES}/gen-online-keys`;
    assertRule(await raw(p, 'POST', e14, { txid: '', 'key-type': 'ED25519' }), 400, 26, /at least one/);
    assertRule(await raw(p, 'POST', e14, { txid: '', 'key-type': 'ECDSA', snapshot: true }), 400, 26, /ED25519 or RSA/);
    assertRule(await raw(p, 'POST', e14, { txid: '', 'key-type': 'ED25519', snapshot: false }), 400, 26, /may only be true/);
    assertRule(await raw(p, 'POST', e14, { txid: '', 'key-type': 'ED25519', snapshot: true, root: true }), 400, 26, /unknown field "root"/);
    // The Factory's clock is two years on: the staged root has expired (the root key must rotate first).
    assertRule(await raw(p, 'POST', e14, { txid: '', 'key-type': 'ED25519', snapshot: true }), 422, 28, /expired/);
  });

  it('§6.6 rule 36: E15/E16 answer 404 naming the rule for unknown names and for none', async () => {
    const p = await practice();
    assertRule(await raw(p, 'GET', '/ota/factories/{F}/prod-targets/?tag=main,nope'), 404, 36, /"nope"/);
    assertRule(await raw(p, 'GET', '/ota/factories/{F}/wave-targets/?name='), 404, 36, /no active waves/);
  });

  it('rule 32: an active wave refuses online-key rotation; a targets-key rotation must re-sign it (or, strict, is refused)', async () => {
    // The default (fioctl ≥ v0.40): allowed when the wave is signed with the new key.
    const p = await practice({ wave: true });
    await p.owner.init({ message: 'Rotate TUF targets offline signing key', firstTime: false, shortcut: false });
    assertRule(await raw(p, 'POST', `${UPDATES}/gen-online-keys`, { txid: '', 'key-type': 'ED25519', targets: true }), 409, 32, /active wave "wave-1" blocks the online key rotation/);
    const self = await p.owner.self();
    const nk = await generateKey('ed25519');
    const nid = keyIdFoundries(nk.publicKey);
    const stamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const rotate = (s: JsonObject): void => {
      const t = roles(s)['targets']!;
      t['keyids'] = (t['keyids'] as string[]).filter((k) => k !== p.targetsKey.keyid).concat(nid);
      delete keys(s)[p.targetsKey.keyid];
      keys(s)[nid] = newRootKeyJson('foundries', nk.publicKey);
      s['x-key-owners'] = { [nid]: { 'polis-id': self.polisId, 'created-at': stamp } };
    };
    const tags = await p.owner.prodTargets();
    const waves = await p.owner.waveTargets();
    const sign = async (signed: JsonObject): Promise<JsonObject[]> => signRoot('foundries', signed, [{ keyid: nid, signer: new LocalSigner(nk) }]);
    const tagSigs = { main: await sign(tags['main']?.signed ?? {}) };
    const rotated = await putBody(p, rotate);
    // Nothing re-signed: the tag (rule 31) and the wave (rule 32) fall short at apply.
    assert.equal((await raw(p, 'PUT', UPDATES, rotated)).status, 200);
    const none = await raw(p, 'POST', `${UPDATES}/apply`, { txid: '' });
    assertRule(none, 422, 31, /production tag "main" would have 1 valid targets signatures, 2 needed/);
    assertRule(none, 422, 32, /active wave "wave-1"/);
    assert.equal((await raw(p, 'PUT', UPDATES, { ...rotated, 'targets-signatures': tagSigs })).status, 200);
    assertRule(await raw(p, 'POST', `${UPDATES}/apply`, { txid: '' }), 422, 32, /active wave "wave-1" would have 1 valid targets signatures, 2 needed/);
    assert.equal((await raw(p, 'PUT', UPDATES, { ...rotated, 'waves-signatures': { 'wave-1': await sign(waves['wave-1']?.signed ?? {}) } })).status, 200);
    assert.equal((await raw(p, 'POST', `${UPDATES}/apply`, { txid: '' })).status, 200);
    assert.ok((await p.owner.waveTargets())['wave-1']?.signatures.some((x) => x['keyid'] === nid), 'the wave carries the new key\'s signature');

    // Strict (fioctl's help text): the same rotation is refused at PUT, with or without wave signatures.
    const q = await practice({ wave: true, options: { strictWaves: true } });
    await q.owner.init({ message: 'Rotate TUF targets offline signing key', firstTime: false, shortcut: false });
    const qtags = await q.owner.prodTargets();
    const qwaves = await q.owner.waveTargets();
    const qself = await q.owner.self();
    const rotateQ = (s: JsonObject): void => {
      const t = roles(s)['targets']!;
      t['keyids'] = (t['keyids'] as string[]).filter((k) => k !== q.targetsKey.keyid).concat(nid);
      delete keys(s)[q.targetsKey.keyid];
      keys(s)[nid] = newRootKeyJson('foundries', nk.publicKey);
      s['x-key-owners'] = { [nid]: { 'polis-id': qself.polisId, 'created-at': stamp } };
    };
    const maps = { 'targets-signatures': { main: await sign(qtags['main']?.signed ?? {}) }, 'waves-signatures': { 'wave-1': await sign(qwaves['wave-1']?.signed ?? {}) } };
    assertRule(await raw(q, 'PUT', UPDATES, await putBody(q, rotateQ, maps)), 409, 32, /active wave "wave-1" blocks rotating or deleting the offline targets key/);
    // Deleting the offline targets key is refused the same way; a root-only change is not.
    assertRule(await raw(q, 'PUT', UPDATES, await putBody(q, (s) => {
      const t = roles(s)['targets']!;
      t['keyids'] = (t['keyids'] as string[]).filter((k) => k !== q.targetsKey.keyid);
    })), 409, 32);
    assert.equal((await raw(q, 'PUT', UPDATES, await putBody(q))).status, 200);
    // Through the client: TARGET_CONFLICT, the rule in the message, a hint without CLI options.
    const roots = await staged(q, rotateQ);
    const refused = await assertAppError(() => q.owner.put({ txid: '', ciRoot: roots.ci, prodRoot: roots.prod }), 'TARGET_CONFLICT');
    assert.match(refused.message, /rule 32: active wave "wave-1"/);
    assert.match(refused.hint, /wave/);
    assert.doesNotMatch(refused.hint, /(^|\s)--[a-z]|tuf-rotate [a-z]/);
  });

  it('rule 34: CI target uploads refused while an online-key rotation is applying; wave creation refused while a transaction is open', async () => {
    const p = await practice();
    const upload = { targets: { 'practice-lmp-2': { custom: { name: 'practice-lmp', version: '2' }, hashes: { sha256: 'ab'.repeat(32) }, length: 3 } }, 'targets-creator': 'ci' };
    const expires = new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const waveSigned = practiceTargetsSigned({ name: 'practice-lmp', version: 2, expires, content: 'build 2' });
    const wave = { name: 'wave-2', version: '2', tag: 'main', targets: await signTargets(waveSigned, [{ keyid: p.targetsKey.keyid, signer: new LocalSigner(p.targetsKey.key) }]) };
    const TARGETS = '/ota/factories/{F}/targets/';
    const WAVES = '/ota/factories/{F}/waves/';
    assert.equal((await raw(p, 'POST', TARGETS, { targets: {} })).status, 400);

    await p.owner.init({ message: 'Rotate online keys', firstTime: false, shortcut: false });
    assertRule(await raw(p, 'POST', WAVES, wave), 409, 34, /while a TUF root updates transaction is open/);
    await p.owner.genOnlineKeys({ txid: '', keyType: 'ED25519', roles: ['snapshot'] });
    assertRule(await raw(p, 'POST', WAVES, wave, 'b'), 409, 34, /until the online key rotation .* is applied/);
    // Staged, not applying yet: CI uploads go on.
    assert.equal((await raw(p, 'POST', TARGETS, upload)).status, 201);
    const roots = await staged(p);
    await p.owner.put({ txid: '', ciRoot: roots.ci, prodRoot: roots.prod });
    // Hold the apply in APPLYING (apply=delay), released by the test, not by the clock.
    const control = practiceControl(p.app);
    control.setFaults({ applyDelayMs: 600_000 });
    const applying = p.owner.apply('');
    await untilStatus(p, 'APPLYING');
    assertRule(await raw(p, 'POST', TARGETS, upload), 423, 34, /CI target uploads are disabled/);
    assertRule(await raw(p, 'POST', WAVES, wave), 409, 34);
    control.setFaults({});
    assert.deepEqual(await applying, { applied: true, status: 200 });
    assert.equal((await p.owner.updates()).status, 'NONE');
    // Applied: both allowed again; the new wave is active (E16) and blocks an online-key rotation.
    assert.equal((await raw(p, 'POST', TARGETS, upload)).status, 201);
    assert.equal((await raw(p, 'POST', WAVES, { ...wave, targets: { ...wave.targets, signatures: [] } })).status, 400);
    assert.equal((await raw(p, 'POST', WAVES, wave)).status, 201);
    assert.equal((await raw(p, 'POST', WAVES, wave)).status, 400, 'a wave name is used once');
    const w = (await p.owner.waveTargets())['wave-2'];
    assert.ok(w);
    assert.equal(w.signatures.length, 2, 'the offline signature and the server\'s online one');
    assert.equal(JSON.stringify(w.signed), w.signedText, 'served in canonical form (rule 37)');
    await p.owner.init({ message: 'online again', firstTime: false, shortcut: false });
    assertRule(await raw(p, 'POST', `${UPDATES}/gen-online-keys`, { txid: '', 'key-type': 'ED25519', snapshot: true }), 409, 32, /"wave-2"/);
  });
});
