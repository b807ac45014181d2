import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { readKeyArchive } from '../../server/archive/read.js';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { buildPracticeFactory, practiceControl } from '../../server/practice/factory-server.js';
import { verifyRootUpdate } from '../../server/tuf/verify.js';
import { cli } from '../helpers/cli.js';

const sha = async (file: string): Promise<string> => createHash('sha256').update(await fs.readFile(file)).digest('hex');

interface Practice {
  dir: string;
  factory: string;
  archive: string | null;
  tokenFile: string;
  app: FastifyInstance;
  url: string;
}

async function practice(tmp: string, name: string, extra: string[] = []): Promise<Practice> {
  const dir = path.join(tmp, name);
  const made = await cli(['practice', dir, '--dialect', 'foundries', '--key-type', 'ed25519', '--json', ...extra]);
  assert.equal(made.code, 0, made.stderr);
  const info = made.json() as { factory: string; archive: string | null; tokenFile: string };
  const app = await buildPracticeFactory(dir);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { dir, ...info, app, url };
}

describe('tuf-rotate rotate --factory against the practice factory (real HTTP)', () => {
  let tmp: string;
  const apps: FastifyInstance[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-factory-'));
  });
  after(async () => {
    for (const a of apps) await a.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('rotates the root key; the Factory serves version 2, verified, and the archive is saved first', async () => {
    const p = await practice(tmp, 'regular');
    apps.push(p.app);
    assert.ok(p.archive);
    const before = await sha(p.archive);
    const out = path.join(p.dir, 'keys.v2.tgz');
    const r = await cli(['rotate', '--factory', p.factory, '--api-url', p.url, '--token-file', p.tokenFile, '--keys', p.archive, '--out', out, '--changelog', 'Take ownership', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const res = r.json() as { version: number; newKeyId: string; archive: { sha256: string } };
    assert.equal(res.version, 2);
    assert.equal(await sha(p.archive), before);
    assert.equal(await sha(out), res.archive.sha256);

    const token = (await fs.readFile(p.tokenFile, 'utf8')).trim();
    const client = new FoundriesClient({ apiUrl: p.url, factory: p.factory, token });
    const history = await client.history();
    assert.deepEqual(history.map((h) => h.version), [1, 2]);
    const [v1, v2] = history as [(typeof history)[0], (typeof history)[0]];
    assert.ok(verifyRootUpdate(v1, v2, { now: new Date() }).ok);
    assert.equal(v2.changelog?.message, 'Take ownership');
    assert.ok(v2.roles['root']?.keyids.includes(res.newKeyId));
    const prod = await client.currentRoot(true);
    assert.equal(prod.version, 2);
    assert.ok((prod.roles['targets']?.threshold ?? 0) >= 2);
    assert.equal((await client.updates()).status, 'NONE');
  });

  it('first-time rotation: the first root key is saved, then the new key; a second --first-time is refused for an existing file', async () => {
    const p = await practice(tmp, 'first', ['--first-time']);
    apps.push(p.app);
    assert.equal(p.archive, null);
    const out = path.join(p.dir, 'keys.tgz');
    const r = await cli(['rotate', '--factory', p.factory, '--api-url', p.url, '--token-file', p.tokenFile, '--first-time', '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const archive = await readKeyArchive(await fs.readFile(out));
    const names = archive.entries.map((e) => e.name);
    assert.ok(names.includes('tufrepo/keys/first-root.pub') && names.includes('tufrepo/keys/first-root.sec'));
    assert.ok(archive.keys.some((k) => k.base.includes('fioctl-root-') && k.status === 'ok'));
    const again = await cli(['rotate', '--factory', p.factory, '--api-url', p.url, '--token-file', p.tokenFile, '--first-time', '--out', out]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists/);
  });

  it('a 5xx on apply: reports a possibly partial apply (exit 1) and keeps the saved archive', async () => {
    const p = await practice(tmp, 'partial');
    apps.push(p.app);
    practiceControl(p.app).setFaults({ applyStatus: 503 });
    const out = path.join(p.dir, 'keys.v2.tgz');
    const r = await cli(['rotate', '--factory', p.factory, '--api-url', p.url, '--token-file', p.tokenFile, '--keys', p.archive ?? '', '--out', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /partial/i);
    const saved = await readKeyArchive(await fs.readFile(out));
    assert.ok(saved.keys.some((k) => k.base.includes('fioctl-root-') && k.status === 'ok'));
  });

  it('a 409 from an open transaction is refused with exit 1 and nothing written', async () => {
    const p = await practice(tmp, 'conflict');
    apps.push(p.app);
    const token = (await fs.readFile(p.tokenFile, 'utf8')).trim();
    await new FoundriesClient({ apiUrl: p.url, factory: p.factory, token }).init({ message: 'someone else', firstTime: false, shortcut: false });
    const out = path.join(p.dir, 'keys.v2.tgz');
    const r = await cli(['rotate', '--factory', p.factory, '--api-url', p.url, '--token-file', p.tokenFile, '--keys', p.archive ?? '', '--out', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /transaction/);
    await assert.rejects(fs.stat(out));
  });
});
