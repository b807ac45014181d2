import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Updater } from 'tuf-js';
import { readKeyArchive } from '../../server/archive/read.js';
import { parseRoot } from '../../server/tuf/metadata.js';
import { cli } from '../helpers/cli.js';
import { serveFolder } from '../helpers/static-server.js';

const sha = async (file: string): Promise<string> => createHash('sha256').update(await fs.readFile(file)).digest('hex');

/** A real TUF client (tuf-js) refreshes from the repository over loopback; returns its trusted root version. */
async function clientRootVersion(repo: string, clientDir: string): Promise<number> {
  const server = await serveFolder(path.join(repo, 'metadata'));
  try {
    const updater = new Updater({ metadataDir: clientDir, metadataBaseUrl: server.url, config: { fetchRetries: 0 } });
    await updater.refresh();
  } finally {
    await server.close();
  }
  return parseRoot(await fs.readFile(path.join(clientDir, 'root.json'))).version;
}

describe('tuf-rotate practice + rotate on a standard repository', () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-cli-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  for (const keyType of ['ed25519', 'ecdsa', 'rsa'] as const) {
    it(`rotates a ${keyType} root and tuf-js's Updater ends on version 2`, async () => {
      const dir = path.join(tmp, keyType);
      const made = await cli(['practice', dir, '--dialect', 'spec', '--key-type', keyType, '--json']);
      assert.equal(made.code, 0, made.stderr);
      const { target: repo, archive } = made.json() as { target: string; archive: string };

      // A client that trusts version 1 and has refreshed once.
      const clientDir = path.join(dir, 'client');
      await fs.mkdir(clientDir);
      await fs.copyFile(path.join(repo, 'metadata', '1.root.json'), path.join(clientDir, 'root.json'));
      assert.equal(await clientRootVersion(repo, clientDir), 1);

      const before = await sha(archive);
      const out = path.join(dir, 'offline-keys.new.tgz');
      const r = await cli(['rotate', '--keys', archive, '--out', out, '--repo', repo, '--key-type', keyType, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const result = r.json() as { version: number; root: { path: string; version: number }; archive: { path: string; sha256: string }; newKeyId: string };
      assert.equal(result.version, 2);
      assert.equal(result.root.version, 2);

      // Invariant 2: the input archive is untouched; the output is 0600 and holds the new key.
      assert.equal(await sha(archive), before);
      assert.equal((await fs.stat(out)).mode & 0o777, 0o600);
      assert.equal(await sha(out), result.archive.sha256);
      const written = await readKeyArchive(await fs.readFile(out));
      assert.ok(written.keys.some((k) => k.base.endsWith(result.newKeyId) && k.status === 'ok'));

      // The repository has 2.root.json and root.json = version 2, and the real client follows.
      assert.equal(parseRoot(await fs.readFile(path.join(repo, 'metadata', '2.root.json'))).version, 2);
      assert.equal(await clientRootVersion(repo, clientDir), 2);

      // A second rotation from the new archive works too (the archive is usable for the next one).
      const out3 = path.join(dir, 'offline-keys.v3.tgz');
      const r3 = await cli(['rotate', '--keys', out, '--out', out3, '--repo', repo, '--json']);
      assert.equal(r3.code, 0, r3.stderr);
      assert.equal(await clientRootVersion(repo, clientDir), 3);

      // And the whole chain verifies from version 1.
      const v = await cli(['verify', '--trusted', path.join(repo, 'metadata', '1.root.json'), '--repo', repo, '--json']);
      assert.equal(v.code, 0, v.stderr);
      assert.equal((v.json() as { finalVersion: number }).finalVersion, 3);
    });
  }

  it('refuses to overwrite an existing output archive, and --dry-run writes nothing', async () => {
    const dir = path.join(tmp, 'refusals');
    const made = await cli(['practice', dir, '--json']);
    const { target: repo, archive } = made.json() as { target: string; archive: string };
    const dry = await cli(['rotate', '--keys', archive, '--repo', repo, '--dry-run', '--json']);
    assert.equal(dry.code, 0, dry.stderr);
    await assert.rejects(fs.stat(path.join(repo, 'metadata', '2.root.json')));
    const r = await cli(['rotate', '--keys', archive, '--out', archive, '--repo', repo]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is also an input/);
    await assert.rejects(fs.stat(path.join(repo, 'metadata', '2.root.json')));
  });
});
