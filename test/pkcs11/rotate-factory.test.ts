/**
 * A Foundries practice factory (our strict loopback implementation of the Foundries API, as served by
 * `tuf-rotate practice-factory`) rotated to an Ed25519 key generated in a SoftHSM2 token, then again
 * with that token key (named by its URI) as the old key: every served root passes the device rules.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import { closeModules } from '../../server/signers/pkcs11-module.js';
import { verifyRootUpdate } from '../../server/tuf/verify.js';
import { cli } from '../helpers/cli.js';
import { pkcs11Skip, softToken, tempDir, USER_PIN } from './softhsm.js';

describe('PKCS#11: Foundries practice factory with an Ed25519 token key', { skip: pkcs11Skip() }, () => {
  let tmp: string;
  const apps: FastifyInstance[] = [];
  before(async () => {
    tmp = await tempDir('tuf-rotate-p11-factory-');
  });
  after(async () => {
    closeModules();
    for (const a of apps) await a.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('v1 → Ed25519 token key (v2) → signed by the token key (v3); the served roots pass the device rules', async () => {
    const token = await softToken(tmp, 'fio-root');
    const dir = path.join(tmp, 'factory');
    const made = await cli(['practice', dir, '--dialect', 'foundries', '--key-type', 'ed25519', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const p = made.json() as { factory: string; archive: string; tokenFile: string };
    const app = await buildPracticeFactory(dir);
    apps.push(app);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const target = ['--factory', p.factory, '--api-url', url, '--token-file', p.tokenFile];

    const v2 = path.join(dir, 'keys.v2.tgz');
    const r = await cli(['rotate', ...target, '--keys', p.archive, '--out', v2, '--new-key', 'pkcs11:token=fio-root;object=root-2027',
      '--key-type', 'ed25519', '--pin-file', token.pinFile, '--ack-no-backup', 'practice factory', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const res = r.json() as { version: number; newKeyId: string; newKeyToken: { uri: string } };
    assert.equal(res.version, 2);

    // Rotation 2 names the token key directly by its URI.
    const v3 = path.join(dir, 'keys.v3.tgz');
    const r3 = await cli(['rotate', ...target, '--keys', res.newKeyToken.uri, '--out', v3, '--pin-file', token.pinFile, '--json']);
    assert.equal(r3.code, 0, r3.stderr);
    for (const t of [r.stdout, r.stderr, r3.stdout, r3.stderr]) assert.ok(!t.includes(USER_PIN));

    const client = new FoundriesClient({ apiUrl: url, factory: p.factory, token: (await fs.readFile(p.tokenFile, 'utf8')).trim() });
    const history = await client.history();
    assert.deepEqual(history.map((h) => h.version), [1, 2, 3]);
    const [h1, h2, h3] = history as [(typeof history)[0], (typeof history)[0], (typeof history)[0]];
    for (const [a, b] of [[h1, h2], [h2, h3]] as const) {
      const report = verifyRootUpdate(a, b, { now: new Date() });
      assert.ok(report.ok, JSON.stringify(report.results.filter((x) => x.status === 'fail')));
    }
    assert.equal(h2.keys[res.newKeyId]?.keytype, 'ED25519');
    assert.ok(h3.signatures.some((s) => s.keyid === res.newKeyId && s.method === 'ed25519'));
    const prod = await client.currentRoot(true);
    assert.equal(prod.version, 3);
  });
});
