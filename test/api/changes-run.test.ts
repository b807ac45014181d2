/**
 * The page runs several key changes (POST /api/plan with `changes`) through real HTTP (Fastify
 * inject): plan (roles before/after, every document), sign (signed documents), save (one archive
 * with every new key), publish (roots, re-signed metadata, Factory targets signatures), recorded in
 * the work folder's ceremony. A local repository: tuf-js's Updater ends on each new version and
 * fetches a target. The practice factory: add key + threshold 2, rotate online keys, rotate the
 * targets key with a production tag and a wave re-signed (checked under the new targets key).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { readKeyArchive } from '../../server/archive/read.js';
import { writeKeyArchive } from '../../server/archive/write.js';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { emptyArchive } from '../../server/keyring.js';
import { addPracticeWave, createPracticeFactory } from '../../server/practice/create.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import { createSpecPractice } from '../../server/practice/spec-repo.js';
import { validTargetsSigners } from '../../server/practice/targets.js';
import { archivePairFilesFor } from '../../server/tuf/archive-keys.js';
import { keyIdFor, newRootKeyJson } from '../../server/tuf/public-key.js';
import { parsePemPrivateKey } from '../../server/tuf/private-key.js';
import { verifyChain } from '../../server/tuf/verify/chain.js';
import { testApp, waitJob, type TestApp } from './helpers.js';
import { clientFetches } from '../helpers/accept.js';

interface DocumentView { name: string; kind: string; before: string | null; after: string; note?: string }
interface RoleView { name: string; threshold: number; prodThreshold?: number; keys: { keyid: string; held: boolean; online: boolean; added: boolean; removed: boolean }[] }
interface ChangesPlan { summary: string[]; newKeys: { role: string; keyid: string }[]; missing: unknown[]; notes: string[]; roles: { before: RoleView[]; after: RoleView[] }; documents: DocumentView[] }

async function job(t: TestApp, url: string, body: unknown = {}): Promise<Record<string, unknown>> {
  const res = await t.call('POST', url, body);
  assert.equal(res.statusCode, 202, res.body);
  const j = await waitJob(t, res.json().jobId as string);
  assert.equal(j.status, 'done', JSON.stringify(j));
  return j.result ?? {};
}

/** Target → archive → plan → sign → save → publish; returns what each step said. */
async function runChanges(t: TestApp, target: unknown, archive: string, changes: unknown[]): Promise<{ plan: ChangesPlan; documents: DocumentView[]; saved: { path: string; sha256: string }; published: { version: number; published: string[] } }> {
  let res = await t.call('POST', '/api/target', target);
  assert.equal(res.statusCode, 200, res.body);
  res = await t.call('POST', '/api/archive', await fs.readFile(archive));
  assert.equal(res.statusCode, 200, res.body);
  const planned = (await job(t, '/api/plan', { keyType: 'ed25519', changes })) as { plan: { changes: ChangesPlan } };
  assert.deepEqual(planned.plan.changes.missing, []);
  const signed = (await job(t, '/api/sign')) as { sign: { verify: { ok: boolean }; documents: DocumentView[] } };
  assert.equal(signed.sign.verify.ok, true);
  const saved = (await job(t, '/api/save')) as { save: { path: string; sha256: string } };
  res = await t.call('GET', '/api/session');
  assert.equal(res.json().step, 'publish');
  assert.equal(res.json().recovery.state, 'keys-saved', 'the ceremony records the saved archive');
  const published = (await job(t, '/api/publish')) as { publish: { version: number; published: string[] } };
  res = await t.call('GET', '/api/session');
  assert.equal(res.json().step, 'done');
  assert.equal(res.json().recovery.state, 'published');
  // A new archive is the valid one when it holds new keys; changes that generate none (a Factory makes its online keys) leave the uploaded one valid.
  const generated = planned.plan.changes.newKeys.length > 0;
  assert.equal(res.json().recovery.validArchive, generated ? saved.save.path : 'the uploaded key archive');
  return { plan: planned.plan.changes, documents: signed.sign.documents, saved: saved.save, published: published.publish };
}


/** An archive holding `base`'s entries plus the files of `more` (another archive) or PEM online keys as archive pairs. */
async function combined(out: string, base: string, more: { archive?: string; pems?: { role: string; file: string }[] }): Promise<string> {
  const a = await readKeyArchive(await fs.readFile(base));
  const additions: { name: string; data: Uint8Array }[] = [];
  if (more.archive !== undefined) {
    const b = await readKeyArchive(await fs.readFile(more.archive));
    for (const e of b.entries) if (e.type === 'file' && !a.entry(e.name)) additions.push({ name: e.name, data: e.data });
  }
  for (const p of more.pems ?? []) {
    const key = parsePemPrivateKey(await fs.readFile(p.file, 'utf8'));
    const id = keyIdFor('spec', key.publicKey);
    const files = archivePairFilesFor('spec', key, newRootKeyJson('spec', key.publicKey));
    additions.push({ name: `${a.prefix}tufrepo/keys/fioctl-${p.role}-${id}.pub`, data: files.pub }, { name: `${a.prefix}tufrepo/keys/fioctl-${p.role}-${id}.sec`, data: files.sec });
  }
  await writeKeyArchive(out, a ?? emptyArchive(), additions, { overwrite: false });
  return out;
}

describe('the page runs several key changes through the API (real HTTP)', () => {
  let tmp: string;
  const closers: (() => Promise<unknown>)[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-api-changes-run-'));
  });
  after(async () => {
    for (const c of closers) await c();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('local repository: add key + threshold 2, then rotate targets (targets/snapshot/timestamp re-signed); tuf-js follows', async () => {
    const made = await createSpecPractice(path.join(tmp, 'practice'));
    const onlineDir = path.join(tmp, 'practice', 'online-keys');
    const pems = (await fs.readdir(onlineDir)).map((f) => ({ role: f.replace(/\..*$/, '').replace(/^.*?(targets|snapshot|timestamp).*$/, '$1'), file: path.join(onlineDir, f) }));
    const archive = await combined(path.join(tmp, 'practice', 'all-keys.tgz'), made.archive, { pems });
    const workDir = path.join(tmp, 'work');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir });
    closers.push(() => t.app.close());
    const clientDir = path.join(tmp, 'client');
    await fs.mkdir(clientDir);
    await fs.copyFile(path.join(made.repo, 'metadata', '1.root.json'), path.join(clientDir, 'root.json'));
    const target = { kind: 'repo', dir: made.repo };

    // Refusals before any job: a token key with other changes; keys that cannot meet a threshold make a plan, and Sign is refused.
    assert.equal((await t.call('POST', '/api/target', target)).statusCode, 200);
    assert.equal((await t.call('POST', '/api/archive', await fs.readFile(made.archive))).statusCode, 200);
    let res = await t.call('POST', '/api/plan', { keyType: 'ed25519', changes: [{ kind: 'add-key', role: 'root' }], newTokenKey: { token: 't', key: 'k', pin: '1234' } });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().error.code, 'BAD_REQUEST');
    const short = (await job(t, '/api/plan', { keyType: 'ed25519', changes: [{ kind: 'rotate-key', role: 'targets' }] })) as { plan: { changes: ChangesPlan } };
    assert.ok(short.plan.changes.missing.length > 0, 'the online keys are not held');
    res = await t.call('POST', '/api/sign', {});
    assert.equal(res.statusCode, 409, res.body);
    assert.equal(res.json().error.code, 'SIGNATURES_NEEDED');
    assert.match(res.json().error.hint, /Requests page/);
    assert.doesNotMatch(res.json().error.hint, /--|\/api\//);

    // 1. Add a root key + threshold 2.
    const r1 = await runChanges(t, target, archive, [{ kind: 'add-key', role: 'root' }, { kind: 'threshold', role: 'root', threshold: 2 }]);
    assert.equal(r1.plan.summary.length, 2);
    const rootAfter = r1.plan.roles.after.find((r) => r.name === 'root');
    assert.equal(rootAfter?.threshold, 2);
    assert.equal(rootAfter?.keys.filter((k) => k.added).length, 1);
    assert.ok(rootAfter?.keys.every((k) => k.held));
    assert.ok(r1.plan.roles.after.find((r) => r.name === 'snapshot')?.keys.every((k) => k.online));
    assert.equal(r1.plan.documents[0]?.name, 'root.json');
    assert.match(r1.plan.documents[0]?.note ?? '', /Sign step adds/);
    assert.equal((JSON.parse(r1.documents[0]?.after ?? '{}') as { signatures: unknown[] }).signatures.length, 2);
    assert.deepEqual(r1.published.published, ['root.json']);
    const added = r1.plan.newKeys[0]?.keyid ?? '';
    assert.ok((await readKeyArchive(await fs.readFile(r1.saved.path))).keys.some((k) => k.base.endsWith(added) && k.status === 'ok'));
    assert.equal(await clientFetches(made.repo, clientDir), 2);

    // 2. Rotate the targets key: targets, snapshot and timestamp re-signed and published after the root.
    const r2 = await runChanges(t, target, r1.saved.path, [{ kind: 'rotate-key', role: 'targets' }]);
    assert.deepEqual(r2.plan.documents.map((d) => d.name), ['root.json', 'targets.json', 'snapshot.json', 'timestamp.json']);
    const targetsDoc = r2.documents.find((d) => d.name === 'targets.json');
    assert.ok(targetsDoc?.before && targetsDoc.after !== targetsDoc.before);
    const newTargets = r2.plan.newKeys[0]?.keyid ?? '';
    assert.equal((JSON.parse(targetsDoc.after) as { signatures: { keyid: string }[] }).signatures[0]?.keyid, newTargets);
    assert.deepEqual(r2.published.published, ['root.json', 'targets.json', 'snapshot.json', 'timestamp.json']);
    assert.equal(await clientFetches(made.repo, clientDir), 3, 'tuf-js ends on version 3 and fetches the target');
    assert.ok((await readKeyArchive(await fs.readFile(r2.saved.path))).keys.some((k) => k.base.endsWith(newTargets) && k.status === 'ok'));
  });

  it('local repository: a change run saved but not published survives a server restart; the recovery publish writes root and re-signed metadata', async () => {
    const made = await createSpecPractice(path.join(tmp, 'practice-r'));
    const onlineDir = path.join(tmp, 'practice-r', 'online-keys');
    const pems = (await fs.readdir(onlineDir)).map((f) => ({ role: f.replace(/^.*?(targets|snapshot|timestamp).*$/, '$1'), file: path.join(onlineDir, f) }));
    const archive = await combined(path.join(tmp, 'practice-r', 'all-keys.tgz'), made.archive, { pems });
    const workDir = path.join(tmp, 'work-r');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir });
    assert.equal((await t.call('POST', '/api/target', { kind: 'repo', dir: made.repo })).statusCode, 200);
    assert.equal((await t.call('POST', '/api/archive', await fs.readFile(archive))).statusCode, 200);
    await job(t, '/api/plan', { keyType: 'ed25519', changes: [{ kind: 'rotate-key', role: 'snapshot' }, { kind: 'rotate-key', role: 'timestamp' }] });
    await job(t, '/api/sign');
    const saved = (await job(t, '/api/save')) as { save: { path: string } };
    await t.app.close();

    // A new server process on the same work folder: the ceremony says keys-saved and offers the publish.
    const t2 = await testApp({ workDir });
    closers.push(() => t2.app.close());
    assert.equal((await t2.call('POST', '/api/target', { kind: 'repo', dir: made.repo })).statusCode, 200);
    const st = (await t2.call('GET', '/api/session')).json<{ recovery: { state: string; actions: string[]; validArchive: string; newArchive: string } }>();
    assert.equal(st.recovery.state, 'keys-saved');
    assert.ok(st.recovery.actions.includes('publish-saved'));
    assert.equal(st.recovery.newArchive, saved.save.path);
    const pub = (await job(t2, '/api/recovery/publish')) as { publish: { version: number; published: string[] } };
    assert.equal(pub.publish.version, 2);
    assert.deepEqual(pub.publish.published, ['root.json', 'snapshot.json', 'timestamp.json']);
    const after = (await t2.call('GET', '/api/session')).json<{ recovery: { state: string; validArchive: string } }>();
    assert.equal(after.recovery.state, 'published');
    assert.equal(after.recovery.validArchive, saved.save.path);
    const clientDir = path.join(tmp, 'client-r');
    await fs.mkdir(clientDir);
    await fs.copyFile(path.join(made.repo, 'metadata', '1.root.json'), path.join(clientDir, 'root.json'));
    assert.equal(await clientFetches(made.repo, clientDir), 2);
  });

  async function factory(name: string, wave: boolean): Promise<{ dir: string; target: unknown; client: FoundriesClient; archive: string; targetsArchive: string }> {
    const dir = path.join(tmp, name);
    const made = await createPracticeFactory(dir, { rootKeyType: 'ed25519' });
    assert.ok(made.archivePath);
    if (wave) await addPracticeWave(dir, 'wave-1');
    const app: FastifyInstance = await buildPracticeFactory(dir);
    closers.push(() => app.close());
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const token = (await fs.readFile(made.tokenFile, 'utf8')).trim();
    return { dir, target: { kind: 'factory', factory: made.factory, apiUrl: url, token }, client: new FoundriesClient({ apiUrl: url, factory: made.factory, token }), archive: made.archivePath, targetsArchive: path.join(dir, 'targets-keys.tgz') };
  }

  async function chainsPass(client: FoundriesClient, versions: number[]): Promise<void> {
    for (const prod of [false, true]) {
      const history = await client.history(prod);
      assert.deepEqual(history.map((h) => h.version), versions);
      const [first, ...rest] = history;
      assert.ok(first);
      const chain = verifyChain(first, rest, { now: new Date() });
      assert.ok(chain.ok, JSON.stringify(chain.steps.map((s) => s.results.filter((x) => x.status === 'fail'))));
    }
  }

  it('local repository: root published, re-signed metadata not (interrupted in between): the page offers finish-metadata and writes it', async () => {
    const made = await createSpecPractice(path.join(tmp, 'practice-m'));
    const onlineDir = path.join(tmp, 'practice-m', 'online-keys');
    const pems = (await fs.readdir(onlineDir)).map((f) => ({ role: f.replace(/^.*?(targets|snapshot|timestamp).*$/, '$1'), file: path.join(onlineDir, f) }));
    const archive = await combined(path.join(tmp, 'practice-m', 'all-keys.tgz'), made.archive, { pems });
    const meta = path.join(made.repo, 'metadata');
    const before: Record<string, Buffer> = {};
    for (const n of ['targets.json', 'snapshot.json', 'timestamp.json']) before[n] = await fs.readFile(path.join(meta, n));
    const workDir = path.join(tmp, 'work-m');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir });
    closers.push(() => t.app.close());
    await runChanges(t, { kind: 'repo', dir: made.repo }, archive, [{ kind: 'rotate-key', role: 'targets' }]);
    // The interruption: the root is published, the three re-signed files are the old ones again.
    for (const [n, bytes] of Object.entries(before)) await fs.writeFile(path.join(meta, n), bytes);

    let st = (await t.call('GET', '/api/session')).json<{ recovery: { state: string; actions: string[]; message: string } }>();
    assert.equal(st.recovery.state, 'published');
    assert.deepEqual(st.recovery.actions, ['finish-metadata'], 'the only way on is to write the metadata (no new ceremony before it)');
    assert.match(st.recovery.message, /re-signed targets\.json, snapshot\.json, timestamp\.json are not written yet/);
    const fin = (await job(t, '/api/recovery/publish')) as { publish: { version: number; published: string[]; verify: { ok: boolean } } };
    assert.equal(fin.publish.version, 2);
    assert.equal(fin.publish.verify.ok, true);
    assert.deepEqual(fin.publish.published, ['targets.json', 'snapshot.json', 'timestamp.json']);
    st = (await t.call('GET', '/api/session')).json();
    assert.ok(st.recovery.actions.includes('new-ceremony'));
    const clientDir = path.join(tmp, 'client-m');
    await fs.mkdir(clientDir);
    await fs.copyFile(path.join(meta, '1.root.json'), path.join(clientDir, 'root.json'));
    assert.equal(await clientFetches(made.repo, clientDir), 2, 'tuf-js ends on version 2 and fetches the target');

    // Later, the repository's own timestamp update (a higher version than the one re-signed here) is not "pending".
    const ts = JSON.parse(await fs.readFile(path.join(meta, 'timestamp.json'), 'utf8')) as { signed: { version: number } };
    ts.signed.version += 1;
    await fs.writeFile(path.join(meta, 'timestamp.json'), JSON.stringify(ts));
    st = (await t.call('GET', '/api/session')).json();
    assert.equal(st.recovery.state, 'published');
    assert.ok(!st.recovery.actions.includes('finish-metadata'), 'a newer timestamp is the repository\'s own, not ours to finish');
    assert.ok(st.recovery.actions.includes('new-ceremony'));
  });

  it('practice factory: add key + threshold 2, then rotate the online keys', async () => {
    const f = await factory('factory-a', false);
    const workDir = path.join(tmp, 'work-a');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir });
    closers.push(() => t.app.close());
    const r1 = await runChanges(t, f.target, f.archive, [{ kind: 'add-key', role: 'root' }, { kind: 'threshold', role: 'root', threshold: 2 }]);
    assert.deepEqual(r1.plan.documents.map((d) => d.name), ['root.json', 'root.json (production)']);
    assert.deepEqual(r1.published.published, ['root.json', 'root.json (production)']);
    assert.equal(r1.plan.roles.after.find((r) => r.name === 'root')?.threshold, 2);
    assert.ok(r1.plan.roles.after.find((r) => r.name === 'targets')?.prodThreshold !== undefined);
    const before = (await f.client.updates()).current.onlineKeys;
    const r2 = await runChanges(t, f.target, r1.saved.path, [{ kind: 'rotate-online-keys', roles: ['snapshot', 'timestamp'] }]);
    assert.ok(r2.plan.roles.after.find((r) => r.name === 'snapshot')?.keys.some((k) => k.online && k.added), 'the new online snapshot key is shown as added and online');
    const afterKeys = (await f.client.updates()).current.onlineKeys;
    assert.notEqual(afterKeys.snapshot, before.snapshot);
    assert.notEqual(afterKeys.timestamp, before.timestamp);
    await chainsPass(f.client, [1, 2, 3]);
  });

  it('practice factory: rotate the targets key, production tag and wave re-signed under the new key', async () => {
    const f = await factory('factory-b', true);
    const workDir = path.join(tmp, 'work-b');
    await fs.mkdir(workDir);
    const archive = await combined(path.join(f.dir, 'all-keys.tgz'), f.archive, { archive: f.targetsArchive });
    const t = await testApp({ workDir });
    closers.push(() => t.app.close());
    const r = await runChanges(t, f.target, archive, [{ kind: 'rotate-key', role: 'targets' }]);
    assert.deepEqual(r.plan.documents.map((d) => d.name), ['root.json', 'root.json (production)', 'targets of tag main', 'targets of wave wave-1']);
    assert.match(r.plan.documents[2]?.note ?? '', /Sign adds a signature by the new offline targets key/);
    assert.deepEqual(r.published.published, ['root.json', 'root.json (production)', 'targets of tag main', 'targets of wave wave-1']);
    const newTargets = r.plan.newKeys[0]?.keyid ?? '';
    const signedTag = JSON.parse(r.documents.find((d) => d.name === 'targets of tag main')?.after ?? '{}') as { signatures: { keyid: string }[] };
    assert.equal(signedTag.signatures[0]?.keyid, newTargets);
    const prodRoot = await f.client.currentRoot(true);
    assert.ok(prodRoot.roles['targets']?.keyids.includes(newTargets));
    for (const entries of [await f.client.prodTargets(), await f.client.waveTargets()]) {
      for (const [name, e] of Object.entries(entries)) assert.ok(validTargetsSigners(prodRoot, e.signed, e.signatures).includes(newTargets), `${name} verifies under the new targets key`);
    }
    assert.ok((await readKeyArchive(await fs.readFile(r.saved.path))).keys.some((k) => k.base.endsWith(`fioctl-targets-${newTargets}`) && k.status === 'ok'));
    await chainsPass(f.client, [1, 2]);
  });
});
