/**
 * The practice factory (our Foundries TUF API on loopback) and FoundriesClient against it, over real
 * HTTP on 127.0.0.1, with the rotation core doing the work a user's rotation does.
 */
import assert from 'node:assert/strict';
import { constants as cryptoConstants, createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { loadToken } from '../../server/backends/foundries-token.js';
import { rawMember } from '../../server/backends/raw-json.js';
import { findRoleSigner, readKeyArchive } from '../../server/archive/read.js';
import { canonicalBytes } from '../../server/tuf/canonical-json.js';
import type { JsonObject } from '../../server/tuf/json.js';
import { cloneJson } from '../../server/tuf/json.js';
import { generateKey } from '../../server/tuf/private-key.js';
import { parseArchiveSecret } from '../../server/tuf/archive-keys.js';
import { samePublicKey, publicKeyOf } from '../../server/tuf/public-key.js';
import type { PrivateKey } from '../../server/tuf/private-key.js';
import { toDocument } from '../../server/tuf/metadata.js';
import type { Root, RootDocument, Signer } from '../../server/tuf/model.js';
import { planRootRotation, signRotation } from '../../server/tuf/rotate.js';
import { LocalSigner, signRoot } from '../../server/tuf/sign.js';
import { verifyRootUpdate } from '../../server/tuf/verify.js';
import { createPracticeFactory } from '../../server/practice/create.js';
import type { CreatePracticeOptions, PracticeFactoryInfo } from '../../server/practice/create.js';
import { buildPracticeFactory, practiceControl } from '../../server/practice/factory-server.js';
import { assertAppError } from '../helpers/assert-app-error.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Practice {
  info: PracticeFactoryInfo;
  app: FastifyInstance;
  url: string;
  token: string;
  client: FoundriesClient;
  /** Closes this instance and serves the same folder from a new one. */
  restart(): Promise<Practice>;
}

async function serve(info: PracticeFactoryInfo, token: string): Promise<Practice> {
  const app = await buildPracticeFactory(info.dir);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => app.close());
  const client = new FoundriesClient({ apiUrl: url, factory: info.factory, token, timeoutMs: 10_000 });
  return {
    info,
    app,
    url,
    token,
    client,
    restart: async () => {
      await app.close();
      return serve(info, token);
    },
  };
}

async function practice(opts: CreatePracticeOptions = {}): Promise<Practice> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tuf-rotate-practice-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const info = await createPracticeFactory(path.join(dir, 'factory'), { rootKeyType: 'ed25519', ...opts });
  const token = (await readFile(info.tokenFile, 'utf8')).trim();
  return serve(info, token);
}

/** The owner's current root key, from the practice archive. */
async function ownerKey(p: Practice): Promise<PrivateKey> {
  assert.ok(p.info.archivePath !== undefined);
  const archive = await readKeyArchive(await readFile(p.info.archivePath), { name: 'offline-keys.tgz' });
  return findRoleSigner(archive, await p.client.currentRoot()).privateKey;
}

interface Rotation {
  txid: string;
  ci: RootDocument;
  prod: RootDocument;
  newKey: PrivateKey;
  oldKeyId: string;
  newKeyId: string;
  staged: Root;
}

/** init → read the staged root → plan → sign with the old and the new key (nothing uploaded). */
async function prepareRotation(p: Practice, oldKey: PrivateKey, newAlg: 'ed25519' | 'rsa' = 'ed25519'): Promise<Rotation> {
  const { txid } = await p.client.init({ message: 'Rotate TUF root offline signing key', firstTime: false, shortcut: true });
  return signStaged(p, txid, oldKey, newAlg);
}

async function signStaged(p: Practice, txid: string, oldKey: PrivateKey, newAlg: 'ed25519' | 'rsa' = 'ed25519'): Promise<Rotation> {
  const updates = await p.client.updates();
  assert.equal(updates.status, 'STARTED');
  assert.ok(updates.updated !== undefined);
  const staged = updates.updated.ciRoot;
  const oldKeyId = staged.roles['root']?.keyids[0];
  assert.ok(oldKeyId !== undefined);
  const newKey = await generateKey(newAlg);
  const { polisId } = await p.client.self();
  const plan = planRootRotation(staged, {
    heldKeyIds: [oldKeyId],
    newKey: newKey.publicKey,
    now: new Date(),
    polisId,
    bumpVersion: false,
    prodTargetsThreshold: updates.updated.prodRoot?.roles['targets']?.threshold,
  });
  const signers = new Map<string, Signer>([
    [plan.newKeyId, new LocalSigner(newKey)],
    [oldKeyId, new LocalSigner(oldKey)],
  ]);
  const signed = await signRotation(plan, signers);
  assert.ok(signed.prod !== undefined);
  return { txid, ci: signed.root, prod: signed.prod, newKey, oldKeyId, newKeyId: plan.newKeyId, staged };
}

async function raw(p: Practice, method: string, rel: string, o: { body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { 'OSF-TOKEN': p.token, ...o.headers };
  if (o.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${p.url}${rel}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
  const text = await res.text();
  return { status: res.status, text, json: text === '' ? undefined : (JSON.parse(text) as JsonObject) };
}

function repo(p: Practice): string {
  return `/ota/repo/${p.info.factory}/api/v1/user_repo`;
}

/** Re-signs a modified `signed` with the rotation's new and old keys (so only the modification is wrong). */
async function resign(r: Rotation, oldKey: PrivateKey, signed: JsonObject): Promise<RootDocument> {
  const sigs = await signRoot('foundries', signed, [
    { keyid: r.newKeyId, signer: new LocalSigner(r.newKey) },
    { keyid: r.oldKeyId, signer: new LocalSigner(oldKey) },
  ]);
  return toDocument(signed, sigs);
}

function errs(body: JsonObject): string {
  return (body['errors'] as string[]).join('\n');
}

async function assertFoundriesError(p: Practice, rel: string, body: unknown, status: number): Promise<JsonObject> {
  const res = await raw(p, 'PUT', rel, { body });
  assert.equal(res.status, status, res.text);
  assert.ok(res.json !== undefined);
  assert.equal(typeof res.json['message'], 'string');
  assert.ok(Array.isArray(res.json['errors']));
  return res.json;
}

describe('practice factory', () => {
  it('rotates the root key end to end: plan, sign with the archive key and the new key, put, apply', async () => {
    const p = await practice();
    const v1 = await p.client.currentRoot();
    assert.equal(v1.version, 1);
    assert.equal(v1.type, 'Root');
    assert.equal((await p.client.currentRoot(true)).version, 1);
    const mode = async (f: string) => (await stat(f)).mode & 0o777;
    assert.equal(await mode(p.info.archivePath ?? ''), 0o600);
    assert.equal(await mode(p.info.tokenFile), 0o600);
    assert.equal(await mode(path.join(p.info.dir, 'server-keys')), 0o700);
    assert.equal(await mode(path.join(p.info.dir, 'server-keys', 'timestamp.sec')), 0o600);

    const oldKey = await ownerKey(p);
    const r = await prepareRotation(p, oldKey);
    assert.equal(r.staged.version, 2, 'the server stages version + 1');
    assert.equal(r.staged.changelog?.message, 'Rotate TUF root offline signing key');

    // E9 carries the roots as JSON strings inside the JSON.
    const e9 = await raw(p, 'GET', `${repo(p)}/root/updates`);
    const current = e9.json?.['current'] as JsonObject;
    assert.equal(typeof current['ci-root'], 'string');
    assert.equal(typeof (e9.json?.['updated'] as JsonObject)['ci-root'], 'string');

    await p.client.put({ txid: r.txid, ciRoot: r.ci, prodRoot: r.prod });
    const outcome = await p.client.apply(r.txid);
    assert.equal(outcome.applied, true);

    const v2 = await p.client.currentRoot();
    assert.equal(v2.version, 2);
    assert.deepEqual(v2.roles['root']?.keyids, [r.newKeyId]);
    const prod2 = await p.client.currentRoot(true);
    assert.equal(prod2.version, 2);
    assert.equal(prod2.roles['targets']?.threshold, 2);
    assert.deepEqual((await p.client.history()).map((x) => x.version), [1, 2]);
    assert.deepEqual((await p.client.history(true)).map((x) => x.version), [1, 2]);
    const report = verifyRootUpdate(v1, v2, { now: new Date() });
    assert.ok(report.ok, JSON.stringify(report.results.filter((x) => x.status === 'fail')));
    assert.equal((await p.client.updates()).status, 'NONE');
  });

  it('rotates an RSA-4096 first root key (salt-32 PSS only)', async () => {
    const p = await practice({ rootKeyType: 'rsa' });
    const v1 = await p.client.currentRoot();
    const oldId = v1.roles['root']?.keyids[0] ?? '';
    assert.equal(v1.keys[oldId]?.keytype, 'RSA');
    assert.equal(publicKeyOf(v1.keys[oldId] ?? assert.fail()).bits, 4096);
    const oldKey = await ownerKey(p);
    const r = await prepareRotation(p, oldKey);

    // The same old key, but RSA-PSS with the maximum salt: the device would accept it, the server does not.
    const archive = await readKeyArchive(await readFile(p.info.archivePath ?? ''));
    const sec = archive.entry('tufrepo/keys/first-root.sec');
    assert.ok(sec?.type === 'file');
    const pem = (JSON.parse(Buffer.from(sec.data).toString('utf8')) as { keyval: { private: string } }).keyval.private;
    const rsa = createPrivateKey(pem);
    const maxSalt = (signed: JsonObject) =>
      cryptoSign('sha256', canonicalBytes('foundries', signed), {
        key: rsa,
        padding: cryptoConstants.RSA_PKCS1_PSS_PADDING,
        saltLength: cryptoConstants.RSA_PSS_SALTLEN_MAX_SIGN,
      }).toString('base64');
    const swapOld = (doc: RootDocument): RootDocument => ({
      signed: doc.signed,
      signatures: doc.signatures.map((s) => (s['keyid'] === r.oldKeyId ? { ...s, sig: maxSalt(doc.signed) } : s)),
    });
    const refused = await assertFoundriesError(p, `${repo(p)}/root/updates`, { txid: r.txid, 'ci-root': swapOld(r.ci), 'prod-root': swapOld(r.prod) }, 422);
    assert.match(errs(refused), /signature by [0-9a-f]{8} does not verify \(rule 23\)/);

    await p.client.put({ txid: r.txid, ciRoot: r.ci, prodRoot: r.prod });
    await p.client.apply(r.txid);
    const v2 = await p.client.currentRoot();
    assert.equal(v2.version, 2);
    assert.ok(verifyRootUpdate(v1, v2, { now: new Date() }).ok);
  });

  it('first-time rotation: init hands out first_root.sec/.pub once; the owner rotates with them', async () => {
    const p = await practice({ firstTime: true });
    assert.equal(p.info.archivePath, undefined, 'no archive before the owner took the key');
    const v1 = await p.client.currentRoot();

    const init = await p.client.init({ message: 'Take ownership', firstTime: true, shortcut: true });
    assert.ok(init.firstRootSec !== undefined && init.firstRootPub !== undefined);
    const secText = Buffer.from(init.firstRootSec).toString('utf8');
    const pubText = Buffer.from(init.firstRootPub).toString('utf8');
    // Saved verbatim, as fioctl does: here, to a file beside the factory, before anything else.
    const saved = path.join(path.dirname(p.info.dir), 'first_root.sec');
    await writeFile(saved, init.firstRootSec, { mode: 0o600 });
    assert.equal(await readFile(saved, 'utf8'), secText);
    const firstKey = parseArchiveSecret(JSON.parse(secText) as JsonObject);
    const rootId = v1.roles['root']?.keyids[0] ?? '';
    assert.ok(samePublicKey(firstKey.publicKey, publicKeyOf(v1.keys[rootId] ?? assert.fail())));
    assert.equal((JSON.parse(pubText) as { keyval: { public: string } }).keyval.public, v1.keys[rootId]?.public);
    assert.equal((await p.client.updates()).firstTime, true);

    const r = await signStaged(p, init.txid, firstKey);
    await p.client.put({ txid: '', ciRoot: r.ci, prodRoot: r.prod });
    await p.client.apply('');
    const v2 = await p.client.currentRoot();
    assert.equal(v2.version, 2);
    assert.ok(verifyRootUpdate(v1, v2, { now: new Date() }).ok);

    // Once only: the owner has the key now.
    const e = await assertAppError(() => p.client.init({ message: 'again', firstTime: true, shortcut: true }), 'TARGET_REFUSED');
    assert.match(e.message, /not possible/);
    assert.equal((await p.client.updates()).status, 'NONE');
  });

  it('refuses a second transaction with 409 until the first is canceled', async () => {
    const p = await practice();
    await p.client.init({ message: 'first', firstTime: false, shortcut: false });
    const res = await raw(p, 'POST', `${repo(p)}/root/updates`, { body: { message: 'second', 'first-time': false, shortcut: false } });
    assert.equal(res.status, 409);
    assert.equal(res.json?.['message'], 'Only one TUF root updates transaction can be active at a time');
    const e = await assertAppError(() => p.client.init({ message: 'second', firstTime: false, shortcut: false }), 'TARGET_CONFLICT');
    assert.match(e.message, /Only one TUF root updates transaction/);
    await p.client.cancel();
    assert.equal((await p.client.updates()).status, 'NONE');
    await assertAppError(() => p.client.cancel(), 'TARGET_CONFLICT');
    await p.client.init({ message: 'second', firstTime: false, shortcut: false });
  });

  it('refuses bad PUTs with Foundries-shaped 4xx bodies and changes nothing', async () => {
    const p = await practice();
    const oldKey = await ownerKey(p);
    const r = await prepareRotation(p, oldKey);
    const put = `${repo(p)}/root/updates`;
    const body = (ci: RootDocument, prod: RootDocument = r.prod) => ({ txid: r.txid, 'ci-root': ci, 'prod-root': prod });

    // A signature that does not verify.
    const badSig = cloneJson(r.ci);
    const first = badSig.signatures[0] as JsonObject;
    const sigBytes = Buffer.from(String(first['sig']), 'base64');
    sigBytes[0] = (sigBytes[0] ?? 0) ^ 0xff;
    first['sig'] = sigBytes.toString('base64');
    await assertFoundriesError(p, put, body(badSig), 422);

    // An unknown field in signed (correctly signed): the re-encode check refuses it.
    const extra = cloneJson(r.ci.signed);
    extra['x-extra'] = 'surprise';
    const j2 = await assertFoundriesError(p, put, body(await resign(r, oldKey, extra)), 422);
    assert.match(errs(j2), /unknown field "x-extra"/);

    // A version skip (correctly signed).
    const skip = cloneJson(r.ci.signed);
    skip['version'] = 3;
    const skipProd = cloneJson(r.prod.signed);
    skipProd['version'] = 3;
    const j3 = await assertFoundriesError(p, put, body(await resign(r, oldKey, skip), await resign(r, oldKey, skipProd)), 422);
    assert.match(errs(j3), /must be exactly 2/);

    // A production root that is not the CI root with targets threshold >= 2.
    const prod1 = cloneJson(r.prod.signed);
    ((prod1['roles'] as JsonObject)['targets'] as JsonObject)['threshold'] = 1;
    await assertFoundriesError(p, put, body(r.ci, await resign(r, oldKey, prod1)), 422);

    // x-key-owners for a key that is not in the root.
    const owners = cloneJson(r.ci.signed);
    (owners['x-key-owners'] as JsonObject)['00'.repeat(32)] = { 'polis-id': 'x', 'created-at': '2025-01-01T00:00:00Z' };
    await assertFoundriesError(p, put, body(await resign(r, oldKey, owners)), 422);

    // Malformed: not a root at all, or unknown top-level fields.
    await assertFoundriesError(p, put, { txid: r.txid, 'ci-root': { signed: 1 }, 'prod-root': r.prod }, 400);
    await assertFoundriesError(p, put, { ...body(r.ci), surprise: true }, 400);

    // Through the client: TARGET_REFUSED with the server's errors in the message.
    const e = await assertAppError(() => p.client.put({ txid: r.txid, ciRoot: badSig, prodRoot: r.prod }), 'TARGET_REFUSED');
    assert.match(e.message, /does not verify/);
    assert.ok(!e.message.includes(p.token));

    // Nothing changed: still STARTED, staged root unsigned, current root v1; apply is refused.
    const u = await p.client.updates();
    assert.equal(u.status, 'STARTED');
    assert.equal(u.updated?.ciRoot.signatures.length, 0);
    assert.equal((await p.client.currentRoot()).version, 1);
    await assertAppError(() => p.client.apply(r.txid), 'TARGET_REFUSED');
    assert.equal((await p.client.currentRoot()).version, 1);

    // Only the new key signed: staged (holders may sign one after the other, §6.3 rule 23), but
    // apply is refused until the current root's threshold is met (rule 29).
    const onlyNew = { signed: r.ci.signed, signatures: r.ci.signatures.filter((s) => s['keyid'] === r.newKeyId) };
    await p.client.put({ txid: r.txid, ciRoot: onlyNew, prodRoot: r.prod });
    assert.match((await p.client.updates()).issues.errors.map((x) => x.message).join('; '), /0 of the current root keys/);
    const e2 = await assertAppError(() => p.client.apply(r.txid), 'TARGET_REFUSED');
    assert.match(e2.message, /0 of the current root keys/);
    assert.equal((await p.client.currentRoot()).version, 1);

    // The correct PUT still works afterwards.
    await p.client.put({ txid: r.txid, ciRoot: r.ci, prodRoot: r.prod });
    await p.client.apply(r.txid);
    assert.equal((await p.client.currentRoot()).version, 2);
  });

  it('maps a 422 on apply to TARGET_REFUSED and leaves the transaction STARTED', async () => {
    const p = await practice();
    const r = await prepareRotation(p, await ownerKey(p));
    await p.client.put({ txid: r.txid, ciRoot: r.ci, prodRoot: r.prod });
    practiceControl(p.app).setFaults({ applyStatus: 422 });
    const e = await assertAppError(() => p.client.apply(r.txid), 'TARGET_REFUSED');
    assert.match(e.hint, /No changes were made to your Factory/);
    assert.equal((await p.client.updates()).status, 'STARTED');
    assert.equal((await p.client.currentRoot()).version, 1);
    practiceControl(p.app).setFaults({});
    await p.client.apply(r.txid);
    assert.equal((await p.client.currentRoot()).version, 2);
  });

  it('maps a 5xx on apply to TARGET_PARTIAL_APPLY; re-running apply completes it', async () => {
    const p = await practice();
    const r = await prepareRotation(p, await ownerKey(p));
    await p.client.put({ txid: r.txid, ciRoot: r.ci, prodRoot: r.prod });
    practiceControl(p.app).setFaults({ applyStatus: 503 });
    const e = await assertAppError(() => p.client.apply(r.txid), 'TARGET_PARTIAL_APPLY');
    assert.match(e.message, /may be only partially applied/);
    assert.match(e.hint, /re-run apply after a short pause/i);
    // The documented partial state: CI root published, production root not yet.
    assert.equal((await p.client.updates()).status, 'APPLYING');
    assert.equal((await p.client.currentRoot()).version, 2);
    assert.equal((await p.client.currentRoot(true)).version, 1);
    await assertAppError(() => p.client.cancel(), 'TARGET_CONFLICT');
    practiceControl(p.app).setFaults({});
    await p.client.apply(r.txid);
    assert.equal((await p.client.currentRoot(true)).version, 2);
    assert.equal((await p.client.updates()).status, 'NONE');
  });

  it('apply with nothing in progress: 404, re-read, TARGET_CONFLICT', async () => {
    const p = await practice();
    const res = await raw(p, 'POST', `${repo(p)}/root/updates/apply`, { body: { txid: '' } });
    assert.equal(res.status, 404);
    const e = await assertAppError(() => p.client.apply(''), 'TARGET_CONFLICT');
    assert.match(e.message, /no TUF root updates in progress/);
  });

  it('requires the token (401) and knows only its own factory (404)', async () => {
    const p = await practice();
    const noToken = await fetch(`${p.url}${repo(p)}/root.json`);
    assert.equal(noToken.status, 401);
    assert.equal(typeof ((await noToken.json()) as JsonObject)['message'], 'string');
    const wrong = await raw(p, 'GET', `${repo(p)}/root/updates`, { headers: { 'OSF-TOKEN': 'not-the-token' } });
    assert.equal(wrong.status, 401);
    const bearer = await fetch(`${p.url}${repo(p)}/root.json`, {
      headers: { Authorization: `Bearer ${Buffer.from(p.token).toString('base64')}` },
    });
    assert.equal(bearer.status, 200);
    const other = await raw(p, 'GET', '/ota/repo/someone-else/api/v1/user_repo/root.json');
    assert.equal(other.status, 404);

    const bad = new FoundriesClient({ apiUrl: p.url, factory: p.info.factory, token: 'wrong-token-value' });
    const e = await assertAppError(() => bad.currentRoot(), 'TARGET_AUTH_FAILED');
    assert.ok(!e.message.includes('wrong-token-value') && !e.hint.includes('wrong-token-value'));
    await assertAppError(() => bad.apply(''), 'TARGET_REFUSED'); // 401 on apply: nothing changed
    const self = await p.client.self();
    assert.equal(self.polisId, p.info.polisId);
  });

  it('answers 404 past the end of the history', async () => {
    const p = await practice();
    assert.equal((await p.client.rootVersion(1))?.version, 1);
    assert.equal(await p.client.rootVersion(2), undefined);
    assert.equal(await p.client.rootVersion(2, true), undefined);
    assert.equal((await raw(p, 'GET', `${repo(p)}/2.root.json`)).status, 404);
    assert.equal((await raw(p, 'GET', `${repo(p)}/0.root.json`)).status, 404);
    assert.deepEqual((await p.client.history()).map((x) => x.version), [1]);
  });

  it('keeps its state across a restart (a new instance on the same folder)', async () => {
    const p = await practice();
    const oldKey = await ownerKey(p);
    const r = await prepareRotation(p, oldKey);
    await p.client.put({ txid: r.txid, ciRoot: r.ci, prodRoot: r.prod });
    const q = await p.restart();
    const u = await q.client.updates();
    assert.equal(u.status, 'STARTED');
    assert.equal(u.updated?.ciRoot.signatures.length, 2);
    await q.client.apply(r.txid);
    const s = await q.restart();
    assert.equal((await s.client.currentRoot()).version, 2);
    assert.deepEqual((await s.client.history()).map((x) => x.version), [1, 2]);
    // A second rotation on the restarted instance, signed with the key of the first.
    const r2 = await prepareRotation(s, r.newKey);
    await s.client.put({ txid: r2.txid, ciRoot: r2.ci, prodRoot: r2.prod });
    await s.client.apply(r2.txid);
    assert.equal((await s.client.currentRoot()).version, 3);
  });

  it('reports an unreachable API and a timeout; a timed-out apply may be partial', async () => {
    const p = await practice();
    practiceControl(p.app).setFaults({ delayMs: 400 });
    const slow = new FoundriesClient({ apiUrl: p.url, factory: p.info.factory, token: p.token, timeoutMs: 100 });
    await assertAppError(() => slow.currentRoot(), 'TARGET_UNREACHABLE');
    await assertAppError(() => slow.apply(''), 'TARGET_PARTIAL_APPLY');
    practiceControl(p.app).setFaults({});

    const app = await buildPracticeFactory(p.info.dir);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    await app.close();
    const gone = new FoundriesClient({ apiUrl: url, factory: p.info.factory, token: p.token });
    const e = await assertAppError(() => gone.currentRoot(), 'TARGET_UNREACHABLE');
    assert.match(e.message, /connection refused/);
  });
});

describe('FoundriesClient helpers', () => {
  it('loadToken reads --token-file, then FIOCTL_TOKEN, then fioctl.yaml', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tuf-rotate-token-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'tok');
    await writeFile(file, 'from-file\n');
    await writeFile(path.join(dir, 'fioctl.yaml'), 'factory: acme\ntoken: "from-yaml"\nserver:\n  url: https://x\n');
    const yamlEnv = { FIOCTL_CONFIG: path.join(dir, 'fioctl.yaml') };
    assert.equal(loadToken({ tokenFile: file, env: { FIOCTL_TOKEN: 'from-env' } }), 'from-file');
    assert.equal(loadToken({ env: { FIOCTL_TOKEN: 'from-env', ...yamlEnv } }), 'from-env');
    assert.equal(loadToken({ env: yamlEnv }), 'from-yaml');
    await writeFile(path.join(dir, 'home.yaml'), 'token: plain-token # comment\n');
    assert.equal(loadToken({ env: { FIOCTL_CONFIG: path.join(dir, 'home.yaml') } }), 'plain-token');
    await assertAppError(() => loadToken({ env: {}, home: dir }), 'TARGET_NOT_CONFIGURED');
    await assertAppError(() => loadToken({ tokenFile: path.join(dir, 'missing') }), 'FILE_NOT_FOUND');
  });

  it('rawMember returns a member byte for byte', () => {
    const text = '{"txid":"ABC","first_root.sec": {"keytype":"ED25519","keyval":{"private":"a\\"b}"}} , "n":[1,{"x":"]"}]}';
    assert.equal(rawMember(text, 'first_root.sec'), '{"keytype":"ED25519","keyval":{"private":"a\\"b}"}}');
    assert.equal(rawMember(text, 'n'), '[1,{"x":"]"}]');
    assert.equal(rawMember(text, 'txid'), '"ABC"');
    assert.equal(rawMember(text, 'missing'), undefined);
  });

  it('never shows the token', () => {
    const c = new FoundriesClient({ apiUrl: 'https://api.example/', factory: 'acme', token: 'secret-token' });
    assert.ok(!JSON.stringify(c).includes('secret-token'));
    assert.equal(c.apiUrl, 'https://api.example');
  });
});
