import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSpecPractice } from '../../server/practice/spec-repo.js';
import { HOST, testApp, waitJob, type TestApp } from './helpers.js';

async function job(t: TestApp, url: string, body: unknown = {}): Promise<Awaited<ReturnType<typeof waitJob>>> {
  const res = await t.call('POST', url, body);
  assert.equal(res.statusCode, 202, res.body);
  return waitJob(t, res.json().jobId as string);
}

describe('offline mode: the signed root as a download (GET /api/root/new)', () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-offline-dl-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('serves the written file byte for byte, as an attachment named VERSION.root.json, behind the token, Host and Origin checks', async () => {
    const made = await createSpecPractice(path.join(tmp, 'practice'));
    const workDir = path.join(tmp, 'work');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir });
    try {
      const rootJson = JSON.parse(await fs.readFile(path.join(made.repo, 'metadata', 'root.json'), 'utf8')) as unknown;
      let res = await t.call('POST', '/api/target', { kind: 'offline', root: rootJson });
      assert.equal(res.statusCode, 200, res.body);
      res = await t.call('POST', '/api/archive', await fs.readFile(made.archive));
      assert.equal(res.statusCode, 200, res.body);
      for (const step of ['/api/plan', '/api/sign', '/api/save']) {
        const j = await job(t, step, step === '/api/plan' ? { keyType: 'ed25519' } : {});
        assert.equal(j.status, 'done', `${step}: ${JSON.stringify(j)}`);
      }
      const pub = await job(t, '/api/publish');
      assert.equal(pub.status, 'done', JSON.stringify(pub));
      const { location, version } = (pub.result as { publish: { location: string; version: number } }).publish;
      assert.equal(location, path.join(workDir, '2.root.json'));
      assert.equal(version, 2);
      const written = await fs.readFile(location);

      res = await t.call('GET', '/api/root/new');
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['content-disposition'], 'attachment; filename="2.root.json"');
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.ok(res.rawPayload.equals(written), 'the download is the written file, byte for byte (pretty-printed as written)');
      assert.ok(written.toString('utf8').endsWith('}\n') && written.toString('utf8').startsWith('{\n  "signatures"'));

      // Every route's checks: no token, a foreign Host, a foreign Origin.
      const noToken = await t.raw({ method: 'GET', url: '/api/root/new', headers: { host: HOST } });
      assert.equal(noToken.statusCode, 401);
      const badHost = await t.raw({ method: 'GET', url: '/api/root/new', headers: { host: 'evil.example', authorization: `Bearer ${t.token}` } });
      assert.equal(badHost.statusCode, 403);
      const badOrigin = await t.call('GET', '/api/root/new', undefined, { origin: 'http://evil.example' });
      assert.equal(badOrigin.statusCode, 403);
      for (const r of [noToken, badHost, badOrigin]) assert.ok(!r.body.includes('"signatures"'));
    } finally {
      await t.app.close();
    }
  });
});
