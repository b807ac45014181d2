/**
 * `tuf-rotate change` runs as a ceremony of the work folder: a real CLI process SIGKILLed right
 * after the new keys are saved (TUF_ROTATE_KILL_AT=saved, the failpoint of server/main.ts), then
 * `status WORKDIR --json` and `publish WORKDIR` finish it — with the re-signed metadata of a
 * standard repository (tuf-js's Updater ends on the new version and fetches a target) and the
 * production/wave targets signatures of the practice factory (checked under the new targets key).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { readKeyArchive } from '../../server/archive/read.js';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { addPracticeWave } from '../../server/practice/create.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import { validTargetsSigners } from '../../server/practice/targets.js';
import { parseRoot } from '../../server/tuf/metadata.js';
import { cli } from '../helpers/cli.js';
import { clientFetches } from '../helpers/accept.js';

const MAIN = fileURLToPath(new URL('../../dist/server/main.js', import.meta.url));

/** The built CLI as its own process (asynchronous: the practice factory answers from this one). */
function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: { PATH: process.env['PATH'] ?? '', HOME: os.tmpdir(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const lastJson = (s: string): Record<string, unknown> => JSON.parse(s.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
const sha = async (file: string): Promise<string> => createHash('sha256').update(await fs.readFile(file)).digest('hex');


describe('change runs in the work folder\'s ceremony (killed after save, then status and publish WORKDIR)', { skip: existsSync(MAIN) ? false : 'run npm run build first (npm test does)' }, () => {
  let tmp: string;
  const apps: FastifyInstance[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-change-ceremony-'));
  });
  after(async () => {
    for (const a of apps) await a.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('standard repository: rotate targets, killed after save; status says keys-saved, publish WORKDIR writes root and re-signed metadata', async () => {
    const dir = path.join(tmp, 'repo');
    const made = await cli(['practice', dir, '--dialect', 'spec', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const { target: repo, archive, onlineKeys } = made.json() as { target: string; archive: string; onlineKeys: string };
    const clientDir = path.join(dir, 'client');
    await fs.mkdir(clientDir);
    await fs.copyFile(path.join(repo, 'metadata', '1.root.json'), path.join(clientDir, 'root.json'));
    const work = path.join(tmp, 'work-repo');
    const out = path.join(dir, 'keys-2.tgz');
    const inputSha = await sha(archive);

    const killed = await run(['change', '--repo', repo, '--work', work, '--keys', archive, '--keys', onlineKeys, '--out', out, '--rotate-key', 'targets', '--json'], { TUF_ROTATE_KILL_AT: 'saved' });
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    assert.equal(parseRoot(await fs.readFile(path.join(repo, 'metadata', 'root.json'))).version, 1, 'nothing published');
    assert.equal(await sha(archive), inputSha, 'the input archive is untouched');

    const st = await run(['status', work, '--json']);
    assert.equal(st.code, 0, st.stderr);
    const s = lastJson(st.stdout) as { state: string; validArchive: string; newArchive: { path: string; sha256: string }; newVersion: number; message: string };
    assert.equal(s.state, 'keys-saved');
    assert.equal(s.validArchive, archive, 'the input archive is still the valid one');
    assert.equal(s.newArchive.path, out);
    assert.equal(s.newArchive.sha256, await sha(out));
    assert.equal(s.newVersion, 2);
    assert.match(s.message, /publish WORKDIR/);
    assert.match(s.message, /re-signed metadata/);

    // Another change is refused while this one's keys are saved but not published.
    const refused = await run(['change', '--repo', repo, '--work', work, '--keys', archive, '--refresh-expiry']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /publish WORKDIR/);

    const pub = await run(['publish', work, '--yes', '--json']);
    assert.equal(pub.code, 0, pub.stderr + pub.stdout);
    const p = lastJson(pub.stdout) as { state: string; version: number; published: string[]; validArchive: string };
    assert.equal(p.state, 'published');
    assert.equal(p.version, 2);
    assert.deepEqual(p.published, ['root.json', 'targets.json', 'snapshot.json', 'timestamp.json']);
    assert.equal(p.validArchive, out);
    assert.equal(await clientFetches(repo, clientDir), 2, 'tuf-js ends on the new version and fetches the target');

    const st2 = lastJson((await run(['status', work, '--json'])).stdout) as { state: string; validArchive: string };
    assert.equal(st2.state, 'published');
    assert.equal(st2.validArchive, out);
    const again = await run(['publish', work, '--yes', '--json']);
    assert.equal(again.code, 0);
    assert.equal(lastJson(again.stdout)['alreadyPublished'], true);
  });

  it('standard repository: killed between the root and the re-signed metadata; publish WORKDIR writes the metadata', async () => {
    const dir = path.join(tmp, 'repo-m');
    const made = await cli(['practice', dir, '--dialect', 'spec', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const { target: repo, archive, onlineKeys } = made.json() as { target: string; archive: string; onlineKeys: string };
    const clientDir = path.join(dir, 'client');
    await fs.mkdir(clientDir);
    await fs.copyFile(path.join(repo, 'metadata', '1.root.json'), path.join(clientDir, 'root.json'));
    const work = path.join(tmp, 'work-repo-m');
    const out = path.join(dir, 'keys-2.tgz');
    const killed = await run(['change', '--repo', repo, '--work', work, '--keys', archive, '--keys', onlineKeys, '--out', out, '--rotate-online-keys', '--json'], { TUF_ROTATE_KILL_AT: 'metadata' });
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    assert.equal(parseRoot(await fs.readFile(path.join(repo, 'metadata', 'root.json'))).version, 2, 'the root is published');
    const st = lastJson((await run(['status', work, '--json'])).stdout) as { state: string; pendingMetadata?: string[]; message: string };
    assert.equal(st.state, 'published', 'the target serves our root');
    assert.ok((st.pendingMetadata ?? []).includes('timestamp.json'), `status names the metadata still to write: ${JSON.stringify(st)}`);
    assert.match(st.message, /not written yet: clients cannot update their targets/);
    const pub = await run(['publish', work, '--yes', '--json']);
    assert.equal(pub.code, 0, pub.stderr + pub.stdout);
    assert.equal((lastJson(pub.stdout)['metadata'] as string[]).length > 0, true, 'the re-signed metadata is written now');
    assert.equal(await clientFetches(repo, clientDir), 2, 'tuf-js ends on the new version and fetches the target');
    const again = await run(['publish', work, '--yes', '--json']);
    assert.equal(lastJson(again.stdout)['alreadyPublished'], true);
    const done = lastJson((await run(['status', work, '--json'])).stdout) as { state: string; pendingMetadata?: string[] };
    assert.equal(done.pendingMetadata, undefined, 'nothing left to write');
    // The repository's own later timestamp (a higher version) is not ours to finish or to write over.
    const tsFile = path.join(repo, 'metadata', 'timestamp.json');
    const ts = JSON.parse(await fs.readFile(tsFile, 'utf8')) as { signed: { version: number } };
    ts.signed.version += 1;
    await fs.writeFile(tsFile, JSON.stringify(ts));
    const later = lastJson((await run(['status', work, '--json'])).stdout) as { state: string; pendingMetadata?: string[] };
    assert.equal(later.state, 'published');
    assert.equal(later.pendingMetadata, undefined);
    const third = await run(['publish', work, '--yes', '--json']);
    assert.equal(third.code, 0, third.stderr + third.stdout);
    assert.equal(lastJson(third.stdout)['alreadyPublished'], true);
    assert.equal(JSON.parse(await fs.readFile(tsFile, 'utf8')).signed.version, ts.signed.version, 'the later timestamp is left alone');
  });

  it('practice factory: rotate targets with a production tag and a wave, killed after save; publish WORKDIR stages the targets signatures and applies', async () => {
    const dir = path.join(tmp, 'factory');
    const made = await cli(['practice', dir, '--dialect', 'foundries', '--key-type', 'ed25519', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const { factory, archive, tokenFile } = made.json() as { factory: string; archive: string; tokenFile: string };
    await addPracticeWave(dir, 'wave-1');
    const app = await buildPracticeFactory(dir);
    apps.push(app);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const target = ['--factory', factory, '--api-url', url, '--token-file', tokenFile];
    const client = new FoundriesClient({ apiUrl: url, factory, token: (await fs.readFile(tokenFile, 'utf8')).trim() });
    const work = path.join(tmp, 'work-factory');
    const out = path.join(dir, 'keys.v2.tgz');

    const killed = await run(['change', ...target, '--work', work, '--keys', archive, '--keys', path.join(dir, 'targets-keys.tgz'), '--out', out, '--rotate-key', 'targets', '--json'], { TUF_ROTATE_KILL_AT: 'saved' });
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    assert.equal((await client.updates()).status, 'STARTED', 'the transaction stays open, nothing applied');
    assert.equal((await client.currentRoot()).version, 1);

    const st = await run(['status', work, '--token-file', tokenFile, '--json']);
    assert.equal(st.code, 0, st.stderr);
    const s = lastJson(st.stdout) as { state: string; validArchive: string; newArchive: { path: string }; txid: string; message: string };
    assert.equal(s.state, 'keys-saved');
    assert.equal(s.validArchive, archive);
    assert.equal(s.newArchive.path, out);
    assert.ok(s.txid);
    assert.match(s.message, /production and wave targets signatures/);

    const pub = await run(['publish', work, '--token-file', tokenFile, '--yes', '--json']);
    assert.equal(pub.code, 0, pub.stderr + pub.stdout);
    const p = lastJson(pub.stdout) as { state: string; version: number; published: string[]; validArchive: string };
    assert.equal(p.state, 'published');
    assert.deepEqual(p.published, ['root.json', 'root.json (production)', 'targets of tag main', 'targets of wave wave-1']);
    assert.equal(p.validArchive, out);

    const saved = await readKeyArchive(await fs.readFile(out));
    const prodRoot = await client.currentRoot(true);
    assert.equal(prodRoot.version, 2);
    const newTargets = (prodRoot.roles['targets']?.keyids ?? []).find((id) => saved.keys.some((k) => k.base.endsWith(`fioctl-targets-${id}`) && k.status === 'ok'));
    assert.ok(newTargets, 'the new archive holds the new targets key');
    for (const entries of [await client.prodTargets(), await client.waveTargets()]) {
      for (const [name, e] of Object.entries(entries)) {
        assert.ok(validTargetsSigners(prodRoot, e.signed, e.signatures).includes(newTargets), `${name} is signed by the new targets key`);
      }
    }
    const st2 = lastJson((await run(['status', work, '--token-file', tokenFile, '--json'])).stdout) as { state: string; validArchive: string };
    assert.equal(st2.state, 'published');
    assert.equal(st2.validArchive, out);
  });
});
