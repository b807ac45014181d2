/**
 * Issue 9, scenarios 1 and 2 through the JSON API (the page's face) on the practice factory over
 * real HTTP: the ceremony is reconciled from the Factory's own state on every GET /api/session.
 * 1: a transaction left open by a stopped server is shown as the ceremony's (staged, with its txid)
 *    after a restart, and cancelled from the page's route; the Factory is untouched.
 * 2: a partial apply is shown as partly-applied (never "no changes were made"), the new archive is
 *    named valid, and re-apply finishes both chains.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { verifyServed } from '../../server/backends/foundries.js';
import { readKeyArchive } from '../../server/archive/read.js';
import { heldKeysForRole, keyRingFromArchive } from '../../server/keyring.js';
import { createPracticeFactory } from '../../server/practice/create.js';
import { buildPracticeFactory, practiceControl } from '../../server/practice/factory-server.js';
import { testApp, waitJob, type TestApp } from './helpers.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

interface Recovery {
  state: string;
  message: string;
  validArchive?: string;
  newArchive?: string;
  txid?: string;
  reachable?: boolean;
  actions?: string[];
}

describe('a Factory ceremony through the API, reconciled from the Factory', () => {
  let tmp: string;
  const closers: (() => Promise<unknown>)[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-api-ceremony-'));
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  async function practice(name: string): Promise<{ app: FastifyInstance; url: string; factory: string; token: string; archive: string; client: FoundriesClient }> {
    const dir = path.join(tmp, name);
    const made = await createPracticeFactory(dir, { rootKeyType: 'ed25519' });
    assert.ok(made.archivePath);
    const app = await buildPracticeFactory(dir);
    closers.push(() => app.close());
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const token = (await fs.readFile(made.tokenFile, 'utf8')).trim();
    return { app, url, factory: made.factory, token, archive: made.archivePath, client: new FoundriesClient({ apiUrl: url, factory: made.factory, token }) };
  }

  async function job(t: TestApp, url: string, body: unknown = {}): Promise<Awaited<ReturnType<typeof waitJob>>> {
    const res = await t.call('POST', url, body);
    assert.equal(res.statusCode, 202, res.body);
    return waitJob(t, res.json().jobId as string);
  }

  async function recovery(t: TestApp): Promise<Recovery> {
    return (await t.call('GET', '/api/session')).json().recovery as Recovery;
  }

  it('scenario 1: a transaction left open by a stopped server is the ceremony\'s after a restart, and is cancelled from the page', async () => {
    const p = await practice('s1');
    const workDir = path.join(tmp, 's1-work');
    await fs.mkdir(workDir);
    let t = await testApp({ workDir });
    let res = await t.call('POST', '/api/target', { kind: 'factory', factory: p.factory, apiUrl: p.url, token: p.token });
    assert.equal(res.statusCode, 200, res.body);
    res = await t.call('POST', '/api/archive', await fs.readFile(p.archive));
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await job(t, '/api/plan', { keyType: 'ed25519' })).status, 'done');
    assert.equal((await p.client.state()).status, 'STARTED');
    await t.app.close(); // the server stops; the transaction stays open on the Factory

    t = await testApp({ workDir });
    closers.push(() => t.app.close());
    res = await t.call('POST', '/api/target', { kind: 'factory', factory: p.factory, apiUrl: p.url, token: p.token });
    assert.equal(res.statusCode, 200, res.body);
    let r = await recovery(t);
    assert.equal(r.state, 'staged', r.message);
    assert.ok(r.txid, 'the ceremony kept the txid');
    assert.ok(r.actions?.includes('cancel'), JSON.stringify(r.actions));

    res = await t.call('POST', '/api/ceremony/cancel', {});
    assert.equal(res.statusCode, 200, res.body);
    r = res.json() as Recovery;
    assert.equal(r.state, 'cancelled');
    const st = await p.client.state();
    assert.equal(st.status, 'NONE');
    assert.equal(st.ci.version, 1);
    assert.equal(st.prod.version, 1);
    assert.equal(r.validArchive, 'the uploaded key archive');
  });

  it('scenario 2: a partial apply is partly-applied naming the new archive, and re-apply publishes both chains', async () => {
    const p = await practice('s2');
    const workDir = path.join(tmp, 's2-work');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir });
    closers.push(() => t.app.close());
    let res = await t.call('POST', '/api/target', { kind: 'factory', factory: p.factory, apiUrl: p.url, token: p.token });
    assert.equal(res.statusCode, 200, res.body);
    res = await t.call('POST', '/api/archive', await fs.readFile(p.archive));
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await job(t, '/api/plan', { keyType: 'ed25519' })).status, 'done');
    assert.equal((await job(t, '/api/sign')).status, 'done');
    const save = await job(t, '/api/save');
    const saved = (save.result as { save: { path: string; sha256: string } }).save;
    practiceControl(p.app).setFaults({ applyStatus: 503, applyOnce: true });
    const pub = await job(t, '/api/publish');
    assert.equal(pub.error?.code, 'TARGET_PARTIAL_APPLY');

    let r = await recovery(t);
    assert.equal(r.state, 'partly-applied', r.message);
    assert.ok(!/no changes were made/i.test(r.message));
    assert.equal(r.validArchive, saved.path);
    assert.ok(r.actions?.includes('re-apply'));
    const ring = keyRingFromArchive(await readKeyArchive(await fs.readFile(saved.path)), saved.path);
    assert.ok(heldKeysForRole(ring, await p.client.currentRoot()).size > 0, 'the archive named valid signs for the CI root served');

    const again = await job(t, '/api/ceremony/reapply');
    assert.equal(again.status, 'done', JSON.stringify(again));
    r = await recovery(t);
    assert.equal(r.state, 'published', r.message);
    assert.equal(r.validArchive, saved.path);
    const st = await p.client.state();
    assert.equal(st.ci.version, 2);
    assert.equal(st.prod.version, 2);
    const v = await verifyServed(p.client, new Date());
    assert.ok(v.ci.ok && v.prod.ok);
    assert.equal(sha256(await fs.readFile(saved.path)), saved.sha256);
  });
});
