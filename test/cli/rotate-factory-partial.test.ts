/**
 * `rotate --factory` is the shortcut for the root key: with keys that cannot meet the current root
 * threshold it does what `change --factory --rotate-key root` does — the new key saved, the roots
 * staged partly signed, exit 3 with the transaction and who still signs — instead of stopping.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { readKeyArchive } from '../../server/archive/read.js';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import { cli } from '../helpers/cli.js';

describe('rotate --factory with too few root keys stages partly (exit 3), like change --rotate-key root', () => {
  let tmp: string;
  let app: FastifyInstance | undefined;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-rotate-partial-'));
  });
  after(async () => {
    await app?.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('root threshold 2, one root key given: new key saved, roots staged, txid and who still signs', async () => {
    const dir = path.join(tmp, 'f');
    const made = await cli(['practice', dir, '--dialect', 'foundries', '--key-type', 'ed25519', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const { factory, archive, tokenFile } = made.json() as { factory: string; archive: string; tokenFile: string };
    app = await buildPracticeFactory(dir);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const target = ['--factory', factory, '--api-url', url, '--token-file', tokenFile];
    const both = path.join(dir, 'both.tgz');
    const r2 = await cli(['change', ...target, '--keys', archive, '--out', both, '--add-key', 'root', '--threshold', 'root=2', '--json']);
    assert.equal(r2.code, 0, r2.stderr + r2.stdout);

    // The original archive holds one of the two root keys now.
    const out = path.join(dir, 'rotated.tgz');
    const work = path.join(tmp, 'work');
    const r = await cli(['rotate', ...target, '--keys', archive, '--out', out, '--work', work, '--json']);
    assert.equal(r.code, 3, r.stderr + r.stdout);
    const res = r.json() as { waiting: boolean; staged: boolean; txid: string; missing: unknown[]; archive: { path: string } };
    assert.equal(res.waiting, true);
    assert.equal(res.staged, true);
    assert.ok(res.txid);
    assert.ok(res.missing.length > 0);
    assert.equal(res.archive.path, out);
    assert.ok((await readKeyArchive(await fs.readFile(out))).keys.some((k) => k.base.includes('fioctl-root-') && k.status === 'ok'));
    const client = new FoundriesClient({ apiUrl: url, factory, token: (await fs.readFile(tokenFile, 'utf8')).trim() });
    assert.equal((await client.updates()).status, 'STARTED', 'the roots stay staged for the other admins');
    const st = await cli(['status', work, '--token-file', tokenFile, '--json']);
    assert.equal((st.json() as { state: string }).state, 'staged', 'the work folder\'s ceremony records the staged run');
    assert.equal((await cli(['cancel', ...target, '--json'])).code, 0);
  });
});
