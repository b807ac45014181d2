import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { readKeyArchive } from '../../server/archive/read.js';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import { validTargetsSigners } from '../../server/practice/targets.js';
import { verifyChain } from '../../server/tuf/verify/chain.js';
import { cli } from '../helpers/cli.js';

/**
 * The combinations of #10's "Done when" not covered by change-factory.test.ts, on an RSA Factory:
 * add a key + threshold 2, then remove it + threshold 1, then rotate the targets key; every served
 * root (CI and production) passes the device rules from v1, and no key is lost on the way.
 */
describe('tuf-rotate change --factory: RSA Factory, add + threshold 2, remove + threshold 1, rotate targets', () => {
  let tmp: string;
  const apps: FastifyInstance[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-change-combos-'));
  });
  after(async () => {
    for (const a of apps) await a.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('each step publishes a root both chains accept, and the archives hold every key', async () => {
    const dir = path.join(tmp, 'f');
    const made = await cli(['practice', dir, '--dialect', 'foundries', '--key-type', 'rsa', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const { factory, archive, tokenFile } = made.json() as { factory: string; archive: string; tokenFile: string };
    const app = await buildPracticeFactory(dir);
    apps.push(app);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const target = ['--factory', factory, '--api-url', url, '--token-file', tokenFile];
    const token = (await fs.readFile(tokenFile, 'utf8')).trim();
    const client = new FoundriesClient({ apiUrl: url, factory, token });
    const first = await client.currentRoot(false);
    const firstRootKey = first.roles['root']?.keyids[0] ?? '';

    // 1. Add an RSA root key and require both: signed by the old key (old rule) and both (new rule).
    const v2 = path.join(dir, 'keys.v2.tgz');
    const r2 = await cli(['change', ...target, '--keys', archive, '--out', v2, '--add-key', 'root', '--threshold', 'root=2', '--new-key-type', 'rsa', '--json']);
    assert.equal(r2.code, 0, r2.stderr + r2.stdout);
    const res2 = r2.json() as { version: number; newKeys: { keyid: string }[]; signedBy: string[] };
    assert.equal(res2.version, 2);
    const added = res2.newKeys[0]?.keyid ?? '';
    assert.match(added, /^[0-9a-f]{64}$/);
    const saved2 = await readKeyArchive(await fs.readFile(v2));
    assert.ok(saved2.keys.some((k) => k.base.endsWith(added) && k.status === 'ok'), 'the v2 archive holds the new key');
    assert.ok(saved2.keys.some((k) => k.base.endsWith('first-root') && k.status === 'ok'), 'and still the first root key');

    // 2. Remove the first key and go back to threshold 1: the old root's threshold 2 needs both keys.
    const r3 = await cli(['change', ...target, '--keys', v2, '--remove-key', firstRootKey.slice(0, 12), '--threshold', 'root=1', '--json']);
    assert.equal(r3.code, 0, r3.stderr + r3.stdout);
    const res3 = r3.json() as { version: number; removedKeyIds: string[]; signedBy: string[] };
    assert.equal(res3.version, 3);
    assert.deepEqual(res3.removedKeyIds, [firstRootKey]);
    assert.equal(res3.signedBy.length, 2, 'both keys of the threshold-2 root signed');

    // 3. Rotate the offline targets key: the production tag is signed with the new key.
    const v4 = path.join(dir, 'keys.v4.tgz');
    const r4 = await cli(['change', ...target, '--keys', v2, '--keys', path.join(dir, 'targets-keys.tgz'), '--out', v4, '--rotate-key', 'targets', '--new-key-type', 'rsa', '--json']);
    assert.equal(r4.code, 0, r4.stderr + r4.stdout);
    const res4 = r4.json() as { version: number; newKeys: { role: string; keyid: string }[]; resignedTargets: { tags: string[]; waves: string[] } };
    assert.equal(res4.version, 4);
    assert.deepEqual(res4.resignedTargets.tags, ['main']);
    const newTargets = res4.newKeys.find((k) => k.role === 'targets')?.keyid ?? '';
    const saved4 = await readKeyArchive(await fs.readFile(v4));
    assert.ok(saved4.keys.some((k) => k.base.endsWith(`fioctl-targets-${newTargets}`) && k.status === 'ok'), 'v4 archive holds the new targets key');
    assert.ok(saved4.keys.some((k) => k.base.endsWith(added) && k.status === 'ok'), 'v4 archive still holds the root key');
    const prodRoot = await client.currentRoot(true);
    for (const [name, e] of Object.entries(await client.prodTargets())) {
      assert.ok(validTargetsSigners(prodRoot, e.signed, e.signatures).includes(newTargets), `${name} is signed by the new targets key`);
    }

    assert.equal((await client.updates()).status, 'NONE', 'no transaction left open');
    for (const prod of [false, true]) {
      const history = await client.history(prod);
      assert.deepEqual(history.map((h) => h.version), [1, 2, 3, 4]);
      const [v1, ...rest] = history;
      assert.ok(v1);
      const chain = verifyChain(v1, rest, { now: new Date() });
      assert.ok(chain.ok, JSON.stringify(chain.steps.map((s) => s.results.filter((x) => x.status === 'fail'))));
      assert.deepEqual(rest[1]?.roles['root']?.keyids, [added]);
      assert.equal(rest[1]?.roles['root']?.threshold, 1);
    }
    assert.equal((await client.currentRoot(true)).roles['targets']?.threshold, 2, 'production targets threshold kept');
  });
});
