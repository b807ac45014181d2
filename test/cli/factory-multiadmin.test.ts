import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { readKeyArchive } from '../../server/archive/read.js';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { addPracticeUsers } from '../../server/practice/create.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import { verifyChain } from '../../server/tuf/verify/chain.js';
import { cli } from '../helpers/cli.js';

/** A practice folder's archive (another admin's own keys), and the public half of its root key as a file. */
async function otherAdmin(dir: string, name: string): Promise<{ archive: string; rootPub: string }> {
  const made = await cli(['practice', dir, '--dialect', 'foundries', '--key-type', 'ed25519', '--name', name, '--json']);
  assert.equal(made.code, 0, made.stderr);
  const archive = (made.json() as { archive: string }).archive;
  const a = await readKeyArchive(await fs.readFile(archive));
  const pub = a.entries.find((e) => /root/.test(e.name) && e.name.endsWith('.pub'));
  assert.ok(pub && pub.type === 'file', 'the archive holds a root .pub');
  const rootPub = path.join(dir, `${name}-root.pub`);
  await fs.writeFile(rootPub, Buffer.from(pub.data));
  return { archive, rootPub };
}

describe('Factory multi-admin signing on the practice factory (real HTTP, two admins, own tokens and archives)', () => {
  let tmp: string;
  const apps: FastifyInstance[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-multiadmin-'));
  });
  after(async () => {
    for (const a of apps) await a.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('add B\'s key with threshold 2, a rotation that needs both, refusals, concurrent signers', async () => {
    const dir = path.join(tmp, 'f');
    const made = await cli(['practice', dir, '--dialect', 'foundries', '--key-type', 'ed25519', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const { factory, archive: archiveA, tokenFile: tokenA } = made.json() as { factory: string; archive: string; tokenFile: string };
    const users = await addPracticeUsers(dir, ['admin-b']);
    const tokenB = users.find((u) => u.name === 'admin-b')?.tokenFile ?? '';
    const b = await otherAdmin(path.join(tmp, 'b'), 'bkeys');
    const c = await otherAdmin(path.join(tmp, 'c'), 'ckeys');
    const app = await buildPracticeFactory(dir);
    apps.push(app);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const asA = ['--factory', factory, '--api-url', url, '--token-file', tokenA];
    const asB = ['--factory', factory, '--api-url', url, '--token-file', tokenB];

    // 1. A adds B's root key and threshold 2: the new root needs B too, so it is staged partly signed (exit 3).
    const r1 = await cli(['change', ...asA, '--keys', archiveA, '--add-key', 'root', '--key-file', b.rootPub, '--threshold', 'root=2', '--changelog', 'B joins', '--json']);
    assert.equal(r1.code, 3, r1.stderr + r1.stdout);
    const s1 = r1.json() as { txid: string; staged: boolean; sas: { hex: string; words: string[] }; missing: { keyid: string }[] };
    assert.ok(s1.staged && s1.txid !== '', 'the transaction stays staged, with its txid');
    assert.equal(s1.sas.words.length, 8);
    assert.ok(s1.missing.length > 0, 'who still signs');
    const human = await cli(['review', ...asB, '--txid', s1.txid]);
    assert.equal(human.code, 0, human.stderr);

    // B signs with their own token and archive: exit 0, every threshold met; A publishes.
    const b1 = await cli(['sign', ...asB, '--keys', b.archive, '--txid', s1.txid, '--json']);
    assert.equal(b1.code, 0, b1.stderr + b1.stdout);
    assert.equal((b1.json() as { sas: { hex: string } }).sas.hex, s1.sas.hex, 'B sees the same SAS as A');
    const p1 = await cli(['publish', ...asA, '--yes', '--json']);
    assert.equal(p1.code, 0, p1.stderr + p1.stdout);

    // 2. A rotates A's root key: old root {A, B} t=2 and new root {A', B} t=2 both need B.
    const outA = path.join(tmp, 'a.v3.tgz');
    const r2 = await cli(['change', ...asA, '--keys', archiveA, '--out', outA, '--rotate-key', 'root', '--json']);
    assert.equal(r2.code, 3, r2.stderr + r2.stdout);
    const s2 = r2.json() as { txid: string; sas: { hex: string }; archive: { path: string } };
    assert.equal(s2.archive.path, outA, 'the new key is saved before staging');
    // Publishing before B signed: still waiting (exit 3), nothing applied.
    const early = await cli(['publish', ...asA, '--yes', '--json']);
    assert.equal(early.code, 3, early.stderr + early.stdout);

    // B with a key no root role requires: refused, naming the keys that are.
    const wrong = await cli(['sign', ...asB, '--keys', c.archive, '--txid', s2.txid, '--json']);
    assert.equal(wrong.code, 1, wrong.stderr + wrong.stdout);
    assert.match(wrong.stdout + wrong.stderr, /SIGNATURE_KEY_NOT_REQUIRED/);
    assert.match(wrong.stdout + wrong.stderr, /the keys that are: [0-9a-f]{8}/);

    const b2 = await cli(['sign', ...asB, '--keys', b.archive, '--txid', s2.txid]);
    assert.equal(b2.code, 0, b2.stderr + b2.stdout);
    assert.match(b2.stdout, new RegExp(s2.sas.hex));
    const p2 = await cli(['publish', ...asB, '--txid', s2.txid, '--yes', '--json']);
    assert.equal(p2.code, 0, p2.stderr + p2.stdout);

    // 3. Staged with no usable signature (A gives only an unrelated archive), then A and B sign at the same time.
    const r3 = await cli(['change', ...asA, '--keys', c.archive, '--refresh-expiry', '--json']);
    assert.equal(r3.code, 3, r3.stderr + r3.stdout);
    const s3 = r3.json() as { txid: string };
    const [sa, sb] = await Promise.all([
      cli(['sign', ...asA, '--keys', outA, '--json']),
      cli(['sign', ...asB, '--keys', b.archive, '--txid', s3.txid, '--json']),
    ]);
    assert.ok([0, 3].includes(sa.code), sa.stderr + sa.stdout);
    assert.ok([0, 3].includes(sb.code), sb.stderr + sb.stdout);
    assert.ok(sa.code === 0 || sb.code === 0, 'the later of the two sees every threshold met');
    const rv = await cli(['review', ...asA, '--json']);
    assert.equal((rv.json() as { ready: boolean }).ready, true, rv.stdout);
    const p3 = await cli(['publish', ...asA, '--yes', '--json']);
    assert.equal(p3.code, 0, p3.stderr + p3.stdout);

    // The served CI and production chains pass the device rules, version by version.
    const client = new FoundriesClient({ apiUrl: url, factory, token: (await fs.readFile(tokenA, 'utf8')).trim() });
    assert.equal((await client.updates()).status, 'NONE');
    for (const prod of [false, true]) {
      const history = await client.history(prod);
      assert.deepEqual(history.map((h) => h.version), [1, 2, 3, 4]);
      const [first, ...rest] = history;
      assert.ok(first);
      const chain = verifyChain(first, rest, { now: new Date() });
      assert.ok(chain.ok, JSON.stringify(chain.steps.map((s) => s.results.filter((x) => x.status === 'fail'))));
      assert.equal(rest[2]?.roles['root']?.threshold, 2);
      assert.equal(rest[2]?.signatures.length, 2, 'both holders signed version 4');
    }
  });
});
