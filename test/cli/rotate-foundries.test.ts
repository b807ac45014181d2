import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { readKeyArchive } from '../../server/archive/read.js';
import { parseRoot } from '../../server/tuf/metadata.js';
import { verifyRootUpdate } from '../../server/tuf/verify.js';
import { SHARED_FIXTURES } from '../helpers/assert-app-error.js';
import { cli } from '../helpers/cli.js';

const fx = (p: string): string => fileURLToPath(new URL(p, SHARED_FIXTURES));
const sha = async (file: string): Promise<string> => createHash('sha256').update(await fs.readFile(file)).digest('hex');

const CASES = [
  { name: 'fioctl archive, first rotation (RSA root → Ed25519)', keys: 'foundries/offline-keys.v1.tgz', root: 'foundries/root-v1.json', keyType: 'ed25519' },
  { name: 'fioctl archive, second rotation', keys: 'foundries/offline-keys.v2.tgz', root: 'foundries/root-v2.json', keyType: 'ed25519' },
  { name: 'fioctl archive, to RSA-4096', keys: 'foundries/offline-keys.v2.tgz', root: 'foundries/root-v2.json', keyType: 'rsa' },
  { name: 'garage-sign export (directories, pretty JSON, secrets)', keys: 'foundries/garage-sign/example.tgz', root: 'foundries/garage-sign/root-v2.json', keyType: 'ed25519' },
] as const;

describe('tuf-rotate rotate on the Foundries fixtures (offline files)', () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-fio-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const dir = await fs.mkdtemp(path.join(tmp, 'case-'));
      const keysIn = fx(c.keys);
      const rootIn = fx(c.root);
      const hashes = [await sha(keysIn), await sha(rootIn)];
      const out = path.join(dir, 'keys.new.tgz');
      const newRoot = path.join(dir, 'new.root.json');
      const r = await cli(['rotate', '--keys', keysIn, '--root', rootIn, '--out-root', newRoot, '--out', out, '--key-type', c.keyType, '--changelog', 'Take the root key offline', '--json']);
      assert.equal(r.code, 0, r.stderr);
      for (const text of [r.stdout, r.stderr]) {
        assert.doesNotMatch(text, /SECRET-DO-NOT-SHOW|PRIVATE KEY/);
      }

      // Inputs untouched.
      assert.deepEqual([await sha(keysIn), await sha(rootIn)], hashes);

      // The new root passes the device rules against the old one.
      const oldRoot = parseRoot(await fs.readFile(rootIn));
      const next = parseRoot(await fs.readFile(newRoot));
      assert.equal(next.dialect, 'foundries');
      const report = verifyRootUpdate(oldRoot, next, { now: new Date() });
      assert.ok(report.ok, JSON.stringify(report.results.filter((x) => x.status === 'fail')));
      assert.equal(next.version, oldRoot.version + 1);
      assert.equal(next.changelog?.message, 'Take the root key offline');

      // Every earlier entry is kept byte for byte, and the new pair is added.
      const before = await readKeyArchive(await fs.readFile(keysIn));
      const afterA = await readKeyArchive(await fs.readFile(out));
      for (const e of before.entries) {
        const got = afterA.entry(e.name);
        assert.ok(got, `entry ${e.name} kept`);
        assert.equal(got.type, e.type);
        if (e.type === 'file' && got.type === 'file') assert.ok(Buffer.from(got.data).equals(Buffer.from(e.data)), `${e.name} byte-identical`);
      }
      const newId = (r.json() as { newKeyId: string }).newKeyId;
      assert.ok(afterA.keys.some((k) => k.base.endsWith(`fioctl-root-${newId}`) && k.status === 'ok'));
      assert.equal(afterA.entries.length, before.entries.length + 2);

      // GNU tar and Python's tarfile list every entry.
      const gnu = execFileSync('tar', ['-tzf', out], { encoding: 'utf8' }).trim().split('\n');
      const py = execFileSync('python3', ['-c', 'import sys,tarfile\nfor n in tarfile.open(sys.argv[1]).getnames(): print(n)', out], { encoding: 'utf8' })
        .trim()
        .split('\n');
      const names = afterA.entries.map((e) => e.name.replace(/\/$/, ''));
      assert.deepEqual(gnu.map((n) => n.replace(/\/$/, '')), names);
      assert.deepEqual(py, names);
      assert.equal((await fs.stat(out)).mode & 0o777, 0o600);
    });
  }

  it('refuses a rotation when the archive holds no key of the current root', async () => {
    const dir = await fs.mkdtemp(path.join(tmp, 'nokey-'));
    const r = await cli(['rotate', '--keys', fx('foundries/garage-sign/example.tgz'), '--root', fx('foundries/root-v2.json'), '--out-root', path.join(dir, 'n.json'), '--out', path.join(dir, 'o.tgz')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no private key for the root role/);
    await assert.rejects(fs.stat(path.join(dir, 'o.tgz')));
  });
});
