/**
 * Another key archive in the page (POST /api/keys/archive): a Factory's offline targets keys kept
 * in their own file lend their keys, as a second `--keys ARCHIVE` does on the command line. The
 * targets key rotates (production tag and wave re-signed, checked under the new key); the saved
 * archive is the first archive plus the new key; the same archive twice is refused.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { readKeyArchive } from '../../server/archive/read.js';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { addPracticeWave, createPracticeFactory } from '../../server/practice/create.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import { validTargetsSigners } from '../../server/practice/targets.js';
import { verifyChain } from '../../server/tuf/verify/chain.js';
import { testApp, waitJob, type TestApp } from './helpers.js';

async function job(t: TestApp, url: string): Promise<Record<string, unknown>> {
  const res = await t.call('POST', url, url === '/api/plan' ? { keyType: 'ed25519', changes: [{ kind: 'rotate-key', role: 'targets' }] } : {});
  assert.equal(res.statusCode, 202, res.body);
  const j = await waitJob(t, res.json().jobId as string);
  assert.equal(j.status, 'done', JSON.stringify(j));
  return j.result ?? {};
}

describe('POST /api/keys/archive: a second key archive lends its keys', () => {
  let tmp: string;
  const closers: (() => Promise<unknown>)[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-lend-'));
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('rotates a Factory targets key with the targets archive added; the new archive copies the first', async () => {
    const dir = path.join(tmp, 'f');
    const made = await createPracticeFactory(dir, { rootKeyType: 'ed25519' });
    assert.ok(made.archivePath);
    await addPracticeWave(dir, 'wave-1');
    const factory: FastifyInstance = await buildPracticeFactory(dir);
    closers.push(() => factory.close());
    const url = await factory.listen({ host: '127.0.0.1', port: 0 });
    const token = (await fs.readFile(made.tokenFile, 'utf8')).trim();
    const client = new FoundriesClient({ apiUrl: url, factory: made.factory, token });
    const workDir = path.join(tmp, 'work');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir });
    closers.push(() => t.app.close());
    assert.equal((await t.call('POST', '/api/target', { kind: 'factory', factory: made.factory, apiUrl: url, token })).statusCode, 200);

    const first = await fs.readFile(made.archivePath);
    const targets = await fs.readFile(path.join(dir, 'targets-keys.tgz'));
    let res = await t.call('POST', '/api/archive', first);
    assert.equal(res.statusCode, 200, res.body);

    // The first archive again is refused: it lends nothing.
    res = await t.call('POST', '/api/keys/archive', first);
    assert.equal(res.statusCode, 422, res.body);
    assert.equal(res.json().error.code, 'ARCHIVE_INVALID');
    assert.match(res.json().error.message, /already been added/);

    res = await t.call('POST', '/api/keys/archive', targets);
    assert.equal(res.statusCode, 200, res.body);
    const reply = res.json<{ archive: { sha256: string }; lent: { sha256: string; keys: { base: string; status: string }[] }[] }>();
    assert.equal(reply.lent.length, 1);
    assert.ok(reply.lent[0]?.keys.some((k) => /fioctl-targets-[0-9a-f]{64}$/.test(k.base) && k.status === 'ok'));
    const session = (await t.call('GET', '/api/session')).json<{ archive: { lent?: unknown[] } }>();
    assert.equal(session.archive.lent?.length, 1, 'GET /api/session shows the added archive too');

    res = await t.call('POST', '/api/keys/archive', targets);
    assert.equal(res.statusCode, 422, 'the same archive twice is refused');

    const planned = (await job(t, '/api/plan')) as { plan: { changes: { missing: unknown[]; newKeys: { role: string; keyid: string }[] } } };
    assert.deepEqual(planned.plan.changes.missing, []);
    const newTargets = planned.plan.changes.newKeys.find((k) => k.role === 'targets')?.keyid ?? '';
    await job(t, '/api/sign');
    const saved = (await job(t, '/api/save')) as { save: { path: string } };
    await job(t, '/api/publish');

    // The saved archive: every entry of the first archive, plus the new targets key; the lent archive is not copied.
    const out = await readKeyArchive(await fs.readFile(saved.save.path));
    const firstEntries = (await readKeyArchive(first)).entries.filter((e) => e.type === 'file').map((e) => e.name);
    for (const name of firstEntries) assert.ok(out.entries.some((e) => e.name === name), `${name} copied`);
    assert.ok(out.keys.some((k) => k.base.endsWith(`fioctl-targets-${newTargets}`) && k.status === 'ok'), 'the new targets key saved');
    const lentNames = (await readKeyArchive(targets)).entries.filter((e) => e.type === 'file').map((e) => e.name);
    for (const name of lentNames) assert.ok(!out.entries.some((e) => e.name === name), `${name} (lent) not copied`);

    const prodRoot = await client.currentRoot(true);
    assert.ok(prodRoot.roles['targets']?.keyids.includes(newTargets));
    for (const entries of [await client.prodTargets(), await client.waveTargets()]) {
      for (const [name, e] of Object.entries(entries)) assert.ok(validTargetsSigners(prodRoot, e.signed, e.signatures).includes(newTargets), `${name} signed by the new targets key`);
    }
    for (const prod of [false, true]) {
      const [v1, ...rest] = await client.history(prod);
      assert.ok(v1);
      assert.ok(verifyChain(v1, rest, { now: new Date() }).ok);
    }
  });
});
