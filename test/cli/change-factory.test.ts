import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { readKeyArchive } from '../../server/archive/read.js';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { addPracticeWave } from '../../server/practice/create.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import { validTargetsSigners } from '../../server/practice/targets.js';
import { verifyChain } from '../../server/tuf/verify/chain.js';
import { cli } from '../helpers/cli.js';

describe('tuf-rotate change --factory against the practice factory (real HTTP)', () => {
  let tmp: string;
  const apps: FastifyInstance[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-change-factory-'));
  });
  after(async () => {
    for (const a of apps) await a.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('add a root key + threshold 2, then refresh the expiry: every served root (CI and prod) passes the device rules', async () => {
    const dir = path.join(tmp, 'f');
    const made = await cli(['practice', dir, '--dialect', 'foundries', '--key-type', 'ed25519', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const { factory, archive, tokenFile } = made.json() as { factory: string; archive: string; tokenFile: string };
    const app = await buildPracticeFactory(dir);
    apps.push(app);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const target = ['--factory', factory, '--api-url', url, '--token-file', tokenFile];

    const out = path.join(dir, 'keys.v2.tgz');
    const r2 = await cli(['change', ...target, '--keys', archive, '--out', out, '--add-key', 'root', '--threshold', 'root=2', '--changelog', 'Second root key', '--json']);
    assert.equal(r2.code, 0, r2.stderr + r2.stdout);
    const res2 = r2.json() as { version: number; newKeys: { keyid: string; owner?: string }[]; signedBy: string[]; notes: string[] };
    assert.match(res2.notes[0] ?? '', /2 active root keys/);
    assert.equal(res2.version, 2);
    assert.equal(res2.signedBy.length, 2);
    const added = res2.newKeys[0]?.keyid ?? '';
    assert.ok(res2.newKeys[0]?.owner, 'the key owner (the caller) is recorded');
    const saved = await readKeyArchive(await fs.readFile(out));
    assert.ok(saved.keys.some((k) => k.base.endsWith(added) && k.status === 'ok'), 'the archive holds the new key');

    const r3 = await cli(['change', ...target, '--keys', out, '--refresh-expiry', '--json']);
    assert.equal(r3.code, 0, r3.stderr + r3.stdout);
    assert.equal((r3.json() as { version: number }).version, 3);

    // A key the caller does not hold, with threshold 3: nothing is staged, exit 3, the owner is named.
    const g = path.join(tmp, 'g');
    const other = await cli(['practice', g, '--dialect', 'foundries', '--key-type', 'ed25519', '--name', 'other', '--json']);
    const otherArchive = await readKeyArchive(await fs.readFile((other.json() as { archive: string }).archive));
    const pub = otherArchive.entries.find((e) => e.name.endsWith('.pub'));
    assert.ok(pub && pub.type === 'file');
    const pubFile = path.join(tmp, 'admin-b.pub');
    await fs.writeFile(pubFile, Buffer.from(pub.data));
    const r4 = await cli(['change', ...target, '--keys', out, '--add-key', 'root', '--key-file', pubFile, '--owner', 'admin-b', '--threshold', 'root=3', '--json']);
    assert.equal(r4.code, 3, r4.stderr + r4.stdout);
    assert.match(r4.stdout, /admin-b/);

    // Refused before any request: a Factory's CI targets threshold.
    const r5 = await cli(['change', ...target, '--keys', out, '--threshold', 'targets=2']);
    assert.equal(r5.code, 1);
    assert.match(r5.stderr, /--prod-targets-threshold/);

    const token = (await fs.readFile(tokenFile, 'utf8')).trim();
    const client = new FoundriesClient({ apiUrl: url, factory, token });
    assert.equal((await client.updates()).status, 'NONE', 'no transaction left open');
    for (const prod of [false, true]) {
      const history = await client.history(prod);
      assert.deepEqual(history.map((h) => h.version), [1, 2, 3]);
      const [first, ...rest] = history;
      assert.ok(first);
      const chain = verifyChain(first, rest, { now: new Date() });
      assert.ok(chain.ok, JSON.stringify(chain.steps.map((s) => s.results.filter((x) => x.status === 'fail'))));
      const v3 = rest[1];
      assert.equal(v3?.roles['root']?.threshold, 2);
      assert.deepEqual(v3?.roles['root']?.keyids, history[1]?.roles['root']?.keyids);
      assert.ok((v3?.expiresAt.getTime() ?? 0) > Date.now() + 360 * 24 * 3600 * 1000);
    }
  });

  it('rotate the targets key (production tag and wave re-signed), then rotate all keys; served roots pass the device rules', async () => {
    const dir = path.join(tmp, 't');
    const made = await cli(['practice', dir, '--dialect', 'foundries', '--key-type', 'ed25519', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const { factory, archive, tokenFile } = made.json() as { factory: string; archive: string; tokenFile: string };
    await addPracticeWave(dir, 'wave-1');
    const app = await buildPracticeFactory(dir);
    apps.push(app);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const target = ['--factory', factory, '--api-url', url, '--token-file', tokenFile];
    const token = (await fs.readFile(tokenFile, 'utf8')).trim();
    const client = new FoundriesClient({ apiUrl: url, factory, token });

    // Without the targets archive: refused before anything is staged.
    const refused = await cli(['change', ...target, '--keys', archive, '--out', path.join(dir, 'no.tgz'), '--rotate-key', 'targets']);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /offline targets key/);
    assert.equal((await client.updates()).status, 'NONE');

    const out = path.join(dir, 'keys.v2.tgz');
    const r2 = await cli(['change', ...target, '--keys', archive, '--keys', path.join(dir, 'targets-keys.tgz'), '--out', out, '--rotate-key', 'targets', '--json']);
    assert.equal(r2.code, 0, r2.stderr + r2.stdout);
    const res2 = r2.json() as { version: number; newKeys: { role: string; keyid: string }[]; resignedTargets: { tags: string[]; waves: string[] } };
    assert.deepEqual(res2.resignedTargets, { tags: ['main'], waves: ['wave-1'] });
    const newTargets = res2.newKeys[0]?.keyid ?? '';
    const saved = await readKeyArchive(await fs.readFile(out));
    assert.ok(saved.keys.some((k) => k.base.endsWith(`fioctl-targets-${newTargets}`) && k.status === 'ok'));
    const prodRoot = await client.currentRoot(true);
    assert.ok(prodRoot.roles['targets']?.keyids.includes(newTargets));
    for (const entries of [await client.prodTargets(), await client.waveTargets()]) {
      for (const [name, e] of Object.entries(entries)) {
        assert.ok(validTargetsSigners(prodRoot, e.signed, e.signatures).includes(newTargets), `${name} is signed by the new targets key over the §3.2.4 bytes`);
      }
    }

    // Online keys cannot rotate while a wave is active (the Factory refuses; the transaction is canceled).
    const waved = await cli(['change', ...target, '--keys', out, '--out', path.join(dir, 'no3.tgz'), '--rotate-online-keys']);
    assert.equal(waved.code, 1, waved.stderr);
    assert.match(waved.stderr, /wave/);
    assert.equal((await client.updates()).status, 'NONE');
  });

  it('rotate all keys in one transaction: root, offline targets, and online snapshot/timestamp keys the Factory generates', async () => {
    const dir = path.join(tmp, 'all');
    const made = await cli(['practice', dir, '--dialect', 'foundries', '--key-type', 'ed25519', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const { factory, archive, tokenFile } = made.json() as { factory: string; archive: string; tokenFile: string };
    const app = await buildPracticeFactory(dir);
    apps.push(app);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const target = ['--factory', factory, '--api-url', url, '--token-file', tokenFile];
    const client = new FoundriesClient({ apiUrl: url, factory, token: (await fs.readFile(tokenFile, 'utf8')).trim() });
    const before = (await client.updates()).current.onlineKeys;
    const out3 = path.join(dir, 'keys.v2.tgz');
    // The online targets key stays: at apply the real API re-signs production targets with a new online
    // targets key (fioctl help), which the practice factory does not do (yet), so it refuses that apply (rule 31).
    const r3 = await cli(['change', ...target, '--keys', archive, '--keys', path.join(dir, 'targets-keys.tgz'), '--out', out3,
      '--rotate-key', 'root', '--rotate-key', 'targets', '--rotate-online-keys', 'snapshot,timestamp', '--json']);
    assert.equal(r3.code, 0, r3.stderr + r3.stdout);
    const res3 = r3.json() as { version: number; newKeys: { role: string; keyid: string }[]; onlineKeysGenerated: string[] };
    assert.equal(res3.version, 2);
    assert.deepEqual(res3.onlineKeysGenerated, ['snapshot', 'timestamp']);
    const after = (await client.updates()).current.onlineKeys;
    for (const role of ['snapshot', 'timestamp'] as const) assert.notEqual(after[role], before[role], `new online ${role} key`);
    const held = await readKeyArchive(await fs.readFile(out3));
    for (const k of res3.newKeys) assert.ok(held.keys.some((x) => x.base.endsWith(k.keyid) && x.status === 'ok'), `the archive holds ${k.role} key ${k.keyid}`);
    for (const prod of [false, true]) {
      const history = await client.history(prod);
      const [first, ...rest] = history;
      assert.ok(first);
      const chain = verifyChain(first, rest, { now: new Date() });
      assert.ok(chain.ok, JSON.stringify(chain.steps.map((s) => s.results.filter((x) => x.status === 'fail'))));
      assert.equal(chain.finalVersion, 2);
    }
  });
});
