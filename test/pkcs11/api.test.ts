/**
 * The page's "hardware token" source through the JSON API: POST /api/keys/token opens a root key in
 * a SoftHSM2 token (module, token label, key label, PIN), and the rotation it signs is published.
 * The PIN appears in no reply body and no log line; a wrong PIN is a coded 403.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeModules } from '../../server/signers/pkcs11-module.js';
import { parseRoot } from '../../server/tuf/metadata.js';
import { testApp, waitJob } from '../api/helpers.js';
import { cli } from '../helpers/cli.js';
import { filesUnder, pkcs11Skip, softToken, SOFTHSM_MODULE, tempDir, USER_PIN } from './softhsm.js';

describe('PKCS#11 through the API: a token key as the old root key', { skip: pkcs11Skip() }, () => {
  let tmp: string;
  before(async () => {
    tmp = await tempDir('tuf-rotate-p11-api-');
  });
  after(async () => {
    closeModules();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('token key → plan → sign → save → publish; no PIN in replies or logs', async () => {
    const token = await softToken(tmp, 'api-token');
    const made = await cli(['practice', path.join(tmp, 'p'), '--dialect', 'spec', '--key-type', 'ed25519', '--json']);
    const { target: repo, archive } = made.json() as { target: string; archive: string };
    const r = await cli(['rotate', '--keys', archive, '--out', path.join(tmp, 'v2.tgz'), '--repo', repo, '--new-key', 'pkcs11:token=api-token;object=root-key',
      '--pin-file', token.pinFile, '--ack-no-backup', 'test', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const tokenKeyId = (r.json() as { newKeyId: string }).newKeyId;

    const workDir = path.join(tmp, 'work');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir });
    try {
      let res = await t.call('POST', '/api/target', { kind: 'repo', dir: repo });
      assert.equal(res.statusCode, 200, res.body);

      res = await t.call('POST', '/api/keys/token', { module: SOFTHSM_MODULE, token: 'api-token', key: 'root-key', pin: '000000' });
      assert.equal(res.statusCode, 403, res.body);
      assert.equal(res.json().error.code, 'PKCS11_PIN_INCORRECT');
      res = await t.call('POST', '/api/keys/token', { token: 'no-such', key: 'root-key', pin: USER_PIN });
      assert.equal(res.statusCode, 404, res.body);
      assert.equal(res.json().error.code, 'PKCS11_TOKEN_NOT_FOUND');

      res = await t.call('POST', '/api/keys/token', { module: SOFTHSM_MODULE, token: 'api-token', key: 'root-key', pin: USER_PIN });
      assert.equal(res.statusCode, 200, res.body);
      const added = res.json();
      assert.deepEqual(added.rootKeys.held.map((h: { keyid: string }) => h.keyid), [tokenKeyId]);
      assert.equal(added.tokenKey.label, 'api-token');
      assert.equal(added.tokenKey.algorithm, 'ed25519');

      res = await t.call('POST', '/api/plan', { keyType: 'ed25519' });
      assert.equal(res.statusCode, 202, res.body);
      assert.equal((await waitJob(t, res.json().jobId)).status, 'done');
      res = await t.call('POST', '/api/sign', {});
      const sign = await waitJob(t, res.json().jobId);
      assert.equal(sign.status, 'done', JSON.stringify(sign));
      res = await t.call('POST', '/api/save', {});
      assert.equal((await waitJob(t, res.json().jobId)).status, 'done');
      res = await t.call('POST', '/api/publish', {});
      const pub = await waitJob(t, res.json().jobId);
      assert.equal(pub.status, 'done', JSON.stringify(pub));
      const v3 = parseRoot(await fs.readFile(path.join(repo, 'metadata', '3.root.json')));
      assert.ok(v3.signatures.some((s) => s.keyid === tokenKeyId), 'the token key signed version 3');

      for (const text of [...t.bodies, ...t.logs]) assert.ok(!text.includes(USER_PIN), `PIN in: ${text.slice(0, 200)}`);
      for (const f of await filesUnder(workDir)) assert.ok(!(await fs.readFile(f)).includes(USER_PIN), `PIN in ${f}`);
    } finally {
      await t.app.close();
      closeModules(); // the server keeps the module loaded; the next test has its own SOFTHSM2_CONF
    }
  });

  it('the Plan step generates the new key in the token: backup gate, plan, sign, save, publish; no PIN anywhere', async () => {
    await softToken(tmp, 'plan-token');
    const made = await cli(['practice', path.join(tmp, 'p2'), '--dialect', 'spec', '--key-type', 'ed25519', '--json']);
    const { target: repo, archive } = made.json() as { target: string; archive: string };
    const workDir = path.join(tmp, 'work2');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir });
    try {
      assert.equal((await t.call('POST', '/api/target', { kind: 'repo', dir: repo })).statusCode, 200);
      assert.equal((await t.call('POST', '/api/archive', await fs.readFile(archive))).statusCode, 200);
      const newTokenKey = { token: 'plan-token', key: 'root-next', pin: USER_PIN };

      let res = await t.call('POST', '/api/plan', { keyType: 'ed25519', newTokenKey });
      assert.equal(res.statusCode, 202, res.body);
      const gated = await waitJob(t, res.json().jobId);
      assert.equal(gated.status, 'failed', JSON.stringify(gated));
      assert.equal(gated.error?.code, 'BACKUP_ACK_REQUIRED');

      res = await t.call('POST', '/api/plan', { keyType: 'ed25519', newTokenKey: { ...newTokenKey, ackNoBackup: 'API practice' } });
      const planned = await waitJob(t, res.json().jobId);
      assert.equal(planned.status, 'done', JSON.stringify(planned));
      const plan = (planned.result as { plan: { plan: { newKeyId: string; newKeyToken?: { uri: string; label: string; noBackupAck?: string } } } }).plan.plan;
      assert.equal(plan.newKeyToken?.label, 'plan-token');
      assert.equal(plan.newKeyToken?.noBackupAck, 'API practice');

      for (const step of ['sign', 'save', 'publish']) {
        res = await t.call('POST', `/api/${step}`, {});
        const job = await waitJob(t, res.json().jobId);
        assert.equal(job.status, 'done', `${step}: ${JSON.stringify(job)}`);
      }
      const v2 = parseRoot(await fs.readFile(path.join(repo, 'metadata', '2.root.json')));
      assert.deepEqual(v2.roles['root']?.keyids, [plan.newKeyId]);
      // The ceremony's record in the work folder names the token key and the acknowledgement.
      const texts = await Promise.all((await filesUnder(workDir)).filter((f) => f.endsWith('.json')).map((f) => fs.readFile(f, 'utf8')));
      assert.ok(texts.some((x) => x.includes(JSON.stringify(plan.newKeyToken?.uri ?? '-')) && x.includes('API practice')), 'the record names the token key');

      for (const text of [...t.bodies, ...t.logs]) assert.ok(!text.includes(USER_PIN), `PIN in: ${text.slice(0, 200)}`);
      for (const f of await filesUnder(workDir)) assert.ok(!(await fs.readFile(f)).includes(USER_PIN), `PIN in ${f}`);
    } finally {
      await t.app.close();
      closeModules(); // the server keeps the module loaded; the next test has its own SOFTHSM2_CONF
    }
  });
});
