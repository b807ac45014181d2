import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { createPracticeFactory } from '../../server/practice/create.js';
import { buildPracticeFactory, practiceControl } from '../../server/practice/factory-server.js';
import { embeddedPracticeFactory } from '../../server/serve.js';
import { verifyRootUpdate } from '../../server/tuf/verify.js';
import { testApp, waitJob, type TestApp } from './helpers.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

interface Served {
  dir: string;
  factory: string;
  archive: string;
  tokenFile: string;
  token: string;
  app: FastifyInstance;
  url: string;
}

async function servePractice(dir: string): Promise<Served> {
  const made = await createPracticeFactory(dir, { rootKeyType: 'ed25519' });
  assert.ok(made.archivePath);
  const app = await buildPracticeFactory(dir);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const token = (await fs.readFile(made.tokenFile, 'utf8')).trim();
  return { dir, factory: made.factory, archive: made.archivePath, tokenFile: made.tokenFile, token, app, url };
}

async function job(t: TestApp, url: string, body: unknown = {}): Promise<Awaited<ReturnType<typeof waitJob>>> {
  const res = await t.call('POST', url, body);
  assert.equal(res.statusCode, 202, res.body);
  return waitJob(t, res.json().jobId as string);
}

/** Upload → plan → sign → save; returns the saved archive's path and SHA-256. */
async function planSignSave(t: TestApp, archive: string): Promise<{ path: string; sha256: string }> {
  let res = await t.call('POST', '/api/archive', await fs.readFile(archive));
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.json().rootKeys.missing.length, 0);
  const plan = await job(t, '/api/plan', { keyType: 'ed25519', changelog: 'API rotation' });
  assert.equal(plan.status, 'done', JSON.stringify(plan));
  const sign = await job(t, '/api/sign');
  assert.equal(sign.status, 'done', JSON.stringify(sign));
  const save = await job(t, '/api/save');
  assert.equal(save.status, 'done', JSON.stringify(save));
  const saved = (save.result as { save: { path: string; sha256: string } }).save;
  assert.equal(sha256(await fs.readFile(saved.path)), saved.sha256);
  res = await t.call('GET', '/api/session');
  assert.equal(res.json().step, 'publish');
  return saved;
}

describe('a rotation through the JSON API on a (practice) FoundriesFactory', () => {
  let tmp: string;
  const closers: (() => Promise<unknown>)[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-api-factory-'));
  });
  after(async () => {
    for (const c of closers) await c();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('the embedded practice factory target: target → archive → plan → sign → save → publish; history ends on a verified version 2', async () => {
    const dir = path.join(tmp, 'embedded', 'factory');
    const embedded = embeddedPracticeFactory(dir);
    closers.push(embedded.close);
    const workDir = path.join(tmp, 'embedded-work');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir, practiceFactoryTarget: embedded.target });
    closers.push(() => t.app.close());

    let res = await t.call('POST', '/api/target', { kind: 'practice-factory' });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().target.kind, 'practice');
    assert.equal(res.json().root.version, 1);

    const archive = path.join(dir, 'offline-keys.tgz');
    const before = sha256(await fs.readFile(archive));
    const saved = await planSignSave(t, archive);
    assert.equal(path.dirname(saved.path), workDir);

    const pub = await job(t, '/api/publish');
    assert.equal(pub.status, 'done', JSON.stringify(pub));
    const published = (pub.result as { publish: { version: number; verify: { ok: boolean } } }).publish;
    assert.equal(published.version, 2);
    assert.equal(published.verify.ok, true);
    assert.equal(sha256(await fs.readFile(archive)), before, 'the input archive is unchanged');

    const token = (await fs.readFile(path.join(dir, 'OSF-TOKEN'), 'utf8')).trim();
    res = await t.call('GET', '/api/root/history');
    assert.deepEqual(res.json().versions.map((v: { version: number }) => v.version), [1, 2]);
    res = await t.call('GET', '/api/session');
    assert.equal(res.json().step, 'done');

    // Read back independently of the server's session.
    const factory = JSON.parse(await fs.readFile(path.join(dir, 'factory.json'), 'utf8')) as { name: string };
    const started = await embedded.target();
    const apiUrl = (started as unknown as { client: FoundriesClient }).client.apiUrl;
    const client = new FoundriesClient({ apiUrl, factory: factory.name, token });
    const history = await client.history();
    assert.deepEqual(history.map((h) => h.version), [1, 2]);
    const [v1, v2] = history as [(typeof history)[0], (typeof history)[0]];
    assert.ok(verifyRootUpdate(v1, v2, { now: new Date() }).ok);
    assert.equal(v2.changelog?.message, 'API rotation');
    assert.equal((await client.updates()).status, 'NONE');

    for (const text of [...t.bodies, ...t.logs]) assert.ok(!text.includes(token), 'the factory token never reaches a reply or a log');
  });

  it('a factory target with the token in the body: never echoed nor logged; a 5xx on apply fails publish with TARGET_PARTIAL_APPLY and keeps the saved archive', async () => {
    const p = await servePractice(path.join(tmp, 'faulty'));
    closers.push(() => p.app.close());
    const workDir = path.join(tmp, 'faulty-work');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir });
    closers.push(() => t.app.close());

    // A wrong token is refused by the factory: a coded error, and the token is not in it.
    let res = await t.call('POST', '/api/target', { kind: 'factory', factory: p.factory, apiUrl: p.url, token: 'not-the-token-0123456789' });
    assert.ok(res.statusCode >= 400, res.body);
    assert.ok(!res.body.includes('not-the-token-0123456789'));
    // The body is strict.
    res = await t.call('POST', '/api/target', { kind: 'factory', factory: p.factory, apiUrl: p.url, token: p.token, extra: 1 });
    assert.equal(res.statusCode, 400);

    res = await t.call('POST', '/api/target', { kind: 'factory', factory: p.factory, apiUrl: p.url, token: p.token });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().target.kind, 'practice');
    assert.equal(res.json().root.version, 1);

    const saved = await planSignSave(t, p.archive);
    practiceControl(p.app).setFaults({ applyStatus: 503 });
    const pub = await job(t, '/api/publish');
    assert.equal(pub.status, 'failed', JSON.stringify(pub));
    assert.equal(pub.error?.code, 'TARGET_PARTIAL_APPLY');
    assert.equal(sha256(await fs.readFile(saved.path)), saved.sha256, 'the saved archive is still there, unchanged');
    assert.equal((await fs.stat(saved.path)).mode & 0o777, 0o600);

    for (const text of [...t.bodies, ...t.logs]) assert.ok(!text.includes(p.token), `the token in: ${text.slice(0, 200)}`);
    assert.ok(t.logs.some((l) => l.includes('/api/target')), 'the target requests were logged (redacted)');
  });

  it('a factory target with --token-file semantics (tokenFile relative to the work dir)', async () => {
    const p = await servePractice(path.join(tmp, 'tokenfile'));
    closers.push(() => p.app.close());
    const t = await testApp({ workDir: p.dir });
    closers.push(() => t.app.close());
    let res = await t.call('POST', '/api/target', { kind: 'factory', factory: p.factory, apiUrl: p.url, tokenFile: 'OSF-TOKEN' });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(res.json().target.description, /practice factory/);
    res = await t.call('POST', '/api/target', { kind: 'factory', factory: p.factory, apiUrl: p.url, tokenFile: 'missing-token' });
    assert.equal(res.statusCode >= 400 && res.statusCode < 500, true, res.body);
    res = await t.call('POST', '/api/target', { kind: 'practice-factory' });
    assert.equal(res.json().error.code, 'TARGET_NOT_CONFIGURED');
  });
});
