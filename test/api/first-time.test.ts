import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { findRoleSigner, readKeyArchive } from '../../server/archive/read.js';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { createPracticeFactory } from '../../server/practice/create.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import { verifyChain } from '../../server/tuf/verify/chain.js';
import { testApp, waitJob, type TestApp } from './helpers.js';

async function job(t: TestApp, url: string, body: unknown = {}): Promise<Awaited<ReturnType<typeof waitJob>>> {
  const res = await t.call('POST', url, body);
  assert.equal(res.statusCode, 202, res.body);
  return waitJob(t, res.json().jobId as string);
}

describe('a first-time Factory rotation through the page API (the Factory still holds the root key)', () => {
  let tmp: string;
  let app: FastifyInstance | undefined;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-first-time-api-'));
  });
  after(async () => {
    await app?.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('target with firstTime → plan with no upload (first-root keys written at once, 0600) → sign → save → publish; both chains verify', async () => {
    const dir = path.join(tmp, 'factory');
    const made = await createPracticeFactory(dir, { rootKeyType: 'ed25519', firstTime: true });
    assert.equal(made.archivePath, undefined, 'nobody holds an archive yet');
    app = await buildPracticeFactory(dir);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const token = (await fs.readFile(made.tokenFile, 'utf8')).trim();
    const workDir = path.join(tmp, 'work');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir });
    try {
      let res = await t.call('POST', '/api/target', { kind: 'factory', factory: made.factory, apiUrl: url, token, firstTime: true });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().target.firstTime, true);
      res = await t.call('GET', '/api/session');
      assert.equal(res.json().step, 'plan', 'no keys step: nothing to upload');

      const plan = await job(t, '/api/plan', { keyType: 'ed25519' });
      assert.equal(plan.status, 'done', JSON.stringify(plan));
      const firstKeys = (await fs.readdir(workDir)).filter((n) => /^first-root-keys-.*\.tgz$/.test(n));
      assert.equal(firstKeys.length, 1, 'the first root key the Factory handed over is on disk at once');
      const firstPath = path.join(workDir, firstKeys[0] ?? '');
      assert.equal((await fs.stat(firstPath)).mode & 0o777, 0o600);
      const first = await readKeyArchive(await fs.readFile(firstPath), { name: 'first-root keys' });
      assert.deepEqual(first.entries.map((e) => e.name).sort(), ['tufrepo/keys/first-root.pub', 'tufrepo/keys/first-root.sec']);
      res = await t.call('GET', '/api/session');
      assert.equal(res.json().archive.rootKeys.held.length, 1, 'the handed-over key holds the current root key');

      assert.equal((await job(t, '/api/sign')).status, 'done');
      const save = await job(t, '/api/save');
      assert.equal(save.status, 'done', JSON.stringify(save));
      // (The session was read between plan and save above, as a page reload does: publish still sees the save.)
      const pub = await job(t, '/api/publish');
      assert.equal(pub.status, 'done', JSON.stringify(pub));

      const client = new FoundriesClient({ apiUrl: url, factory: made.factory, token });
      for (const prod of [false, true]) {
        const history = await client.history(prod);
        assert.ok(history.length >= 2);
        const [v1, ...rest] = history;
        assert.ok(v1 && verifyChain(v1, rest, { now: new Date() }).ok, `${prod ? 'production' : 'CI'} chain`);
      }
      const current = await client.currentRoot();
      const savedPath = (save.result as { save: { path: string } }).save.path;
      const saved = await readKeyArchive(await fs.readFile(savedPath), { name: 'saved' });
      assert.equal(findRoleSigner(saved, current).keyid, current.roles['root']?.keyids[0], 'the saved archive holds the new root key');
      assert.ok(saved.entries.some((e) => e.name === 'tufrepo/keys/first-root.sec'), 'and the first root key, as fioctl keeps it');
      res = await t.call('GET', '/api/record');
      assert.equal(res.statusCode, 200);
    } finally {
      await t.app.close();
    }
  });
});
