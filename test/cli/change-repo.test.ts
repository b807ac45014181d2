import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readKeyArchive } from '../../server/archive/read.js';
import { cli } from '../helpers/cli.js';
import { clientFetches } from '../helpers/accept.js';


interface ChangeResult {
  version: number;
  newKeys: { role: string; keyid: string }[];
  removedKeyIds: string[];
  archive?: { path: string; sha256: string };
  metadata: string[];
}

async function archiveHolds(file: string, keyids: string[]): Promise<void> {
  const a = await readKeyArchive(await fs.readFile(file));
  for (const id of keyids) assert.ok(a.keys.some((k) => k.base.endsWith(id) && k.status === 'ok'), `the archive holds key ${id}`);
  assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
}

describe('tuf-rotate change on a standard repository (tuf-js follows every step)', () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-change-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  for (const keyType of ['ed25519', 'ecdsa', 'rsa'] as const) {
    it(`${keyType}: add key + threshold 2, remove key + threshold 1, rotate targets, rotate all keys, refresh expiry`, async () => {
      const dir = path.join(tmp, keyType);
      const made = await cli(['practice', dir, '--dialect', 'spec', '--key-type', keyType, '--json']);
      assert.equal(made.code, 0, made.stderr);
      const { target: repo, archive, onlineKeys } = made.json() as { target: string; archive: string; onlineKeys: string };
      const clientDir = path.join(dir, 'client');
      await fs.mkdir(clientDir);
      await fs.copyFile(path.join(repo, 'metadata', '1.root.json'), path.join(clientDir, 'root.json'));
      assert.equal(await clientFetches(repo, clientDir), 1);
      const change = async (args: string[]): Promise<ChangeResult> => {
        const r = await cli(['change', '--repo', repo, '--new-key-type', keyType, ...args, '--json']);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        return r.json() as unknown as ChangeResult;
      };

      // 1. Add a key + threshold 2 (both root keys land in the new archive).
      const a1 = path.join(dir, 'keys-2.tgz');
      const r2 = await change(['--keys', archive, '--out', a1, '--add-key', 'root', '--threshold', 'root=2']);
      assert.equal(r2.version, 2);
      const added = r2.newKeys[0]?.keyid ?? '';
      await archiveHolds(a1, [added]);
      assert.equal(await clientFetches(repo, clientDir), 2);

      // 2. Remove that key + threshold 1 (the old threshold 2 is met by both keys of the archive).
      const r3 = await change(['--keys', a1, '--remove-key', added.slice(0, 12), '--threshold', 'root=1']);
      assert.deepEqual(r3.removedKeyIds, [added]);
      assert.equal(r3.archive, undefined, 'no new key, no new archive');
      assert.equal(await clientFetches(repo, clientDir), 3);

      // 3. Rotate the targets key: targets, snapshot and timestamp re-signed (online keys given).
      const a3 = path.join(dir, 'keys-4.tgz');
      const r4 = await change(['--keys', a1, '--keys', onlineKeys, '--out', a3, '--rotate-key', 'targets']);
      assert.deepEqual(r4.metadata.map((m) => path.basename(m)), ['2.targets.json', 'targets.json', '2.snapshot.json', 'snapshot.json', 'timestamp.json']);
      await archiveHolds(a3, r4.newKeys.map((k) => k.keyid));
      assert.equal(await clientFetches(repo, clientDir), 4);

      // 4. Rotate all keys: root, targets, snapshot and timestamp in one version.
      const a4 = path.join(dir, 'keys-5.tgz');
      const r5 = await change(['--keys', a3, '--keys', onlineKeys, '--out', a4, '--rotate-key', 'root', '--rotate-key', 'targets', '--rotate-online-keys', 'snapshot,timestamp']);
      assert.deepEqual(r5.newKeys.map((k) => k.role).sort(), ['root', 'snapshot', 'targets', 'timestamp']);
      await archiveHolds(a4, [...r4.newKeys, ...r5.newKeys].map((k) => k.keyid));
      assert.equal(await clientFetches(repo, clientDir), 5);

      // 5. Refresh the expiry: same keys, version 6.
      const r6 = await change(['--keys', a4, '--refresh-expiry', '500']);
      assert.equal(r6.version, 6);
      assert.equal(r6.newKeys.length, 0);
      assert.equal(await clientFetches(repo, clientDir), 6);

      const v = await cli(['verify', '--trusted', path.join(repo, 'metadata', '1.root.json'), '--repo', repo, '--json']);
      assert.equal(v.code, 0, v.stderr);
      assert.equal((v.json() as { finalVersion: number }).finalVersion, 6);

      // keys lists what the last archive holds and which roles each key serves.
      const k = await cli(['keys', a4, '--repo', repo, '--json']);
      assert.equal(k.code, 0, k.stderr);
      const listed = (k.json() as { keys: { inRoot?: { roles: string[] }[] }[] }).keys.flatMap((x) => (x.inRoot ?? []).flatMap((s) => s.roles));
      assert.deepEqual(listed.sort(), ['root', 'snapshot', 'targets', 'timestamp']);
    });
  }

  it('stops with exit 3 and the holders still to sign; refuses a missing online key before writing anything', async () => {
    const dir = path.join(tmp, 'waiting');
    const made = await cli(['practice', dir, '--json']);
    const { target: repo, archive } = made.json() as { target: string; archive: string };
    const other = path.join(dir, 'other.pem');
    const g = await cli(['practice', path.join(dir, 'g'), '--json']);
    // Someone else's public key: the root key of another practice repository's archive.
    const ga = await readKeyArchive(await fs.readFile((g.json() as { archive: string }).archive));
    const pub = ga.entries.find((e) => e.name.endsWith('.pub'));
    assert.ok(pub && pub.type === 'file');
    await fs.writeFile(other, Buffer.from(pub.data));
    const before = await fs.readdir(path.join(repo, 'metadata'));
    const r = await cli(['change', '--repo', repo, '--keys', archive, '--add-key', 'root', '--key-file', other, '--owner', 'bob', '--threshold', 'root=2', '--json']);
    assert.equal(r.code, 3, r.stderr + r.stdout);
    const out = r.json() as { waiting: boolean; missing: { keys: { keyid: string; available: boolean }[] }[] };
    assert.equal(out.waiting, true);
    assert.equal(out.missing[0]?.keys.filter((k) => !k.available).length, 1);
    const t = await cli(['change', '--repo', repo, '--keys', archive, '--out', path.join(dir, 'x.tgz'), '--rotate-key', 'targets']);
    assert.equal(t.code, 1, t.stderr);
    assert.match(t.stderr, /cannot be re-signed.*snapshot\.json/);
    await assert.rejects(fs.stat(path.join(dir, 'x.tgz')));
    assert.deepEqual(await fs.readdir(path.join(repo, 'metadata')), before);
  });
});
