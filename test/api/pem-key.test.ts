import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Updater } from 'tuf-js';
import { findRoleSigner, readKeyArchive } from '../../server/archive/read.js';
import { createSpecPractice } from '../../server/practice/spec-repo.js';
import { parseRoot } from '../../server/tuf/metadata.js';
import { verifyRootUpdate } from '../../server/tuf/verify.js';
import { serveFolder } from '../helpers/static-server.js';
import { testApp, waitJob, type TestApp } from './helpers.js';

async function job(t: TestApp, url: string, body: unknown = {}): Promise<Awaited<ReturnType<typeof waitJob>>> {
  const res = await t.call('POST', url, body);
  assert.equal(res.statusCode, 202, res.body);
  return waitJob(t, res.json().jobId as string);
}

/** The root key of a practice archive, written as a PEM file (how holders of standard repositories keep it). */
async function rootKeyPem(archivePath: string, root: ReturnType<typeof parseRoot>): Promise<string> {
  const archive = await readKeyArchive(await fs.readFile(archivePath), { name: 'practice archive' });
  return findRoleSigner(archive, root).privateKey.toPem();
}

describe('a PEM private key file as the key source (POST /api/keys/pem)', () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-pem-api-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('rotates a local repository with the root key given as PEM alone; tuf-js follows; the key never comes back', async () => {
    const made = await createSpecPractice(path.join(tmp, 'practice'));
    const v1 = parseRoot(await fs.readFile(path.join(made.repo, 'metadata', 'root.json')));
    const pem = await rootKeyPem(made.archive, v1);
    const body64 = pem.split('\n')[1] ?? '';
    assert.ok(body64.length > 20);
    const workDir = path.join(tmp, 'work');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir });
    try {
      let res = await t.call('POST', '/api/target', { kind: 'repo', dir: made.repo });
      assert.equal(res.statusCode, 200, res.body);

      // Refusals first: not a PEM key, an encrypted one, an unknown field; nothing is held after them.
      res = await t.call('POST', '/api/keys/pem', { pem: 'hello', name: 'x.pem' });
      assert.equal(res.statusCode, 422, res.body);
      assert.equal(res.json().error.code, 'KEY_INVALID', res.body);
      res = await t.call('POST', '/api/keys/pem', { pem: '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n' });
      assert.equal(res.statusCode, 422, res.body);
      assert.match(res.json().error.message, /encrypted/);
      res = await t.call('POST', '/api/keys/pem', { pem, extra: 1 });
      assert.equal(res.statusCode, 400, res.body);
      res = await t.call('GET', '/api/session');
      assert.equal(res.json().archive, undefined, 'a refused key adds nothing');

      res = await t.call('POST', '/api/keys/pem', { pem, name: '../../etc/root key.pem' });
      assert.equal(res.statusCode, 200, res.body);
      const r = res.json() as { pemKey: { label: string; algorithm: string; bits: number }; rootKeys: { threshold: number; held: { keyid: string; label: string }[] }; archive: { keys: unknown[] } };
      assert.deepEqual(r.pemKey, { label: 'root_key.pem', algorithm: 'ed25519', bits: 256 });
      assert.deepEqual(r.rootKeys.held.map((h) => [h.keyid, h.label]), [[v1.roles['root']?.keyids[0], 'root_key.pem']]);
      assert.equal(r.archive.keys.length, 0, 'no archive: PEM keys alone');
      // The same key again replaces itself.
      res = await t.call('POST', '/api/keys/pem', { pem, name: 'root.pem' });
      assert.equal(res.json().rootKeys.held.length, 1);

      assert.equal((await job(t, '/api/plan', { keyType: 'ed25519' })).status, 'done');
      assert.equal((await job(t, '/api/sign')).status, 'done');
      const save = await job(t, '/api/save');
      assert.equal(save.status, 'done', JSON.stringify(save));
      const pub = await job(t, '/api/publish');
      assert.equal(pub.status, 'done', JSON.stringify(pub));
      const v2 = parseRoot(await fs.readFile(path.join(made.repo, 'metadata', '2.root.json')));
      assert.ok(verifyRootUpdate(v1, v2, { now: new Date() }).ok);
      // The saved archive holds the new root key.
      const savedPath = (save.result as { save: { path: string } }).save.path;
      const saved = await readKeyArchive(await fs.readFile(savedPath), { name: 'saved' });
      assert.equal(findRoleSigner(saved, v2).keyid, v2.roles['root']?.keyids[0]);

      // tuf-js, trusting v1, updates to v2.
      const served = await serveFolder(made.repo);
      try {
        const metaDir = path.join(tmp, 'client');
        await fs.mkdir(metaDir);
        await fs.copyFile(path.join(made.repo, 'metadata', '1.root.json'), path.join(metaDir, 'root.json'));
        const updater = new Updater({ metadataDir: metaDir, metadataBaseUrl: `${served.url}/metadata`, targetBaseUrl: `${served.url}/targets`, targetDir: path.join(tmp, 'dl') });
        await updater.refresh();
        const trusted = parseRoot(await fs.readFile(path.join(metaDir, 'root.json')));
        assert.equal(trusted.version, 2);
      } finally {
        await served.close();
      }

      for (const text of [...t.bodies, ...t.logs]) {
        assert.ok(!text.includes(body64), 'the PEM key never reaches a reply or a log');
        assert.ok(!text.includes('PRIVATE KEY'), text.slice(0, 200));
      }
    } finally {
      await t.app.close();
    }
  });
});
