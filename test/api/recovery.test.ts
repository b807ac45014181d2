import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { verifyLog } from '../../server/ceremony/log.js';
import { CeremonyStore } from '../../server/ceremony/store.js';
import { assertValidArchive, clientsAccept } from '../helpers/accept.js';
import { cli } from '../helpers/cli.js';
import { createSpecPractice } from '../../server/practice/spec-repo.js';
import { parseRoot } from '../../server/tuf/metadata.js';
import { verifyRootUpdate } from '../../server/tuf/verify.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

interface Server {
  child: ChildProcess;
  origin: string;
  token: string;
  stderr: () => string;
}

async function serve(cwd: string, repo: string): Promise<Server> {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(ROOT, 'server/main.ts'), 'serve', '--repo', repo, '--work', cwd, '--port', '0'], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed; stderr: ${stderr}`)), 20_000);
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('\n')) {
        clearTimeout(timer);
        resolve(stdout.split('\n')[0] ?? '');
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code}: ${stderr}`));
    });
  });
  const m = /^tuf-rotate: serving on (http:\/\/127\.0\.0\.1:\d+)\/#token=([A-Za-z0-9_-]{43})$/.exec(line);
  assert.ok(m, line);
  return { child, origin: m[1] ?? '', token: m[2] ?? '', stderr: () => stderr };
}

async function call(s: Server, method: 'GET' | 'POST', url: string, body?: unknown): Promise<{ status: number; json: () => Record<string, unknown>; text: string }> {
  const isBuf = body instanceof Uint8Array;
  const res = await fetch(`${s.origin}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${s.token}`,
      origin: s.origin,
      ...(method === 'POST' ? { 'content-type': isBuf ? 'application/gzip' : 'application/json' } : {}),
    },
    ...(method === 'POST' ? { body: isBuf ? body : JSON.stringify(body ?? {}) } : {}),
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

async function runJob(s: Server, url: string, body: unknown = {}): Promise<{ status: string; result?: Record<string, unknown>; error?: { code: string } }> {
  const res = await call(s, 'POST', url, body);
  assert.equal(res.status, 202, res.text);
  const id = res.json()['jobId'] as string;
  for (let i = 0; i < 600; i++) {
    const job = (await call(s, 'GET', `/api/jobs/${id}`)).json() as { status: string };
    if (job.status !== 'running') return job;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('job did not finish');
}

async function stop(s: Server, signal: NodeJS.Signals): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => s.child.once('exit', () => resolve()));
  s.child.kill(signal);
  await exited;
}

interface Recovery {
  state: string;
  message: string;
  ceremony?: string;
  validArchive?: string;
  newArchive?: string;
  newArchiveSha256?: string;
  version?: number;
  newVersion?: number;
  actions?: string[];
}

describe('recovery after a crash: the ceremony in the work folder, reconciled on every open', () => {
  let tmp: string;
  const servers: Server[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-recovery-'));
  });
  after(async () => {
    for (const s of servers) await stop(s, 'SIGKILL');
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('killed after save and before publish: the next start says keys-saved, a new plan does not silently abandon it, and the saved root is published', async () => {
    const made = await createSpecPractice(path.join(tmp, 'practice'));
    const work = path.join(tmp, 'work');
    await fs.mkdir(work);

    let s = await serve(work, made.repo);
    servers.push(s);
    assert.match(s.stderr(), new RegExp(`work folder ${work}`));
    let res = await call(s, 'GET', '/api/session');
    assert.equal(res.json()['work'], work);
    assert.equal((res.json()['recovery'] as Recovery).state, 'none');
    res = await call(s, 'POST', '/api/archive', new Uint8Array(await fs.readFile(made.archive)));
    assert.equal(res.status, 200, res.text);
    assert.equal((await runJob(s, '/api/plan', { keyType: 'ed25519' })).status, 'done');
    assert.equal((await runJob(s, '/api/sign')).status, 'done');
    const save = await runJob(s, '/api/save');
    assert.equal(save.status, 'done', JSON.stringify(save));
    const saved = (save.result as { save: { path: string; sha256: string } }).save;
    assert.equal(saved.path, path.join(work, 'offline-keys-v2.tgz'));

    // The ceremony: its own folder, 0600 files, no private key material, an intact event chain.
    const store = new CeremonyStore(work);
    const [c] = await store.list();
    assert.ok(c);
    assert.equal(c.state, 'keys-saved');
    for (const f of await fs.readdir(store.dir(c.id))) {
      const file = path.join(store.dir(c.id), f);
      assert.equal((await fs.stat(file)).mode & 0o777, 0o600, file);
      const text = await fs.readFile(file, 'utf8');
      assert.ok(!text.includes('PRIVATE KEY') && !/"private"/.test(text), `no secret in ${file}`);
    }
    assert.ok((await verifyLog(store.dir(c.id))).ok);

    await stop(s, 'SIGKILL');
    assert.equal(parseRoot(await fs.readFile(path.join(made.repo, 'metadata', 'root.json'))).version, 1, 'nothing was published');

    s = await serve(work, made.repo);
    servers.push(s);
    res = await call(s, 'GET', '/api/session');
    let recovery = res.json()['recovery'] as Recovery;
    assert.equal(recovery.state, 'keys-saved');
    assert.match(recovery.message, /saved/);
    assert.equal(recovery.ceremony, c.id);
    assert.equal(recovery.newArchive, saved.path);
    assert.equal(recovery.newArchiveSha256, saved.sha256);
    assert.equal(recovery.validArchive, 'the uploaded key archive');
    assert.equal(recovery.version, 1);
    assert.equal(recovery.newVersion, 2);
    assert.deepEqual(recovery.actions, ['publish-saved', 'new-ceremony']);

    // The command line sees the same ceremony.
    const st = await cli(['status', work, '--json']);
    assert.equal(st.code, 0, st.stderr);
    assert.equal((st.json() as { state: string }).state, 'keys-saved');

    // A second tab that starts over is refused unless it names the ceremony it abandons.
    res = await call(s, 'POST', '/api/archive', new Uint8Array(await fs.readFile(made.archive)));
    assert.equal(res.status, 200, res.text);
    const plan = await runJob(s, '/api/plan', { keyType: 'ed25519' });
    assert.equal(plan.status, 'failed');
    assert.equal(plan.error?.code, 'SESSION_STATE');
    assert.equal((await store.load(c.id)).state, 'keys-saved');

    const pub = await runJob(s, '/api/recovery/publish');
    assert.equal(pub.status, 'done', JSON.stringify(pub));
    assert.equal((pub.result as { publish: { version: number } }).publish.version, 2);

    const v1 = parseRoot(await fs.readFile(path.join(made.repo, 'metadata', '1.root.json')));
    const v2 = parseRoot(await fs.readFile(path.join(made.repo, 'metadata', 'root.json')));
    assert.equal(v2.version, 2);
    assert.ok(verifyRootUpdate(v1, v2, { now: new Date() }).ok);
    assert.equal(sha256(await fs.readFile(saved.path)), saved.sha256, 'the saved archive is unchanged');
    assert.equal(await clientsAccept(made.repo), 2);

    res = await call(s, 'GET', '/api/session');
    recovery = res.json()['recovery'] as Recovery;
    assert.equal(recovery.state, 'published');
    assert.equal(recovery.validArchive, saved.path);
    await assertValidArchive(made.repo, recovery.validArchive);
    // A second recovery publish is refused.
    assert.equal((await call(s, 'POST', '/api/recovery/publish', {})).status, 409);
    await stop(s, 'SIGTERM');

    // And the next start still says it is done, naming the new archive.
    s = await serve(work, made.repo);
    servers.push(s);
    res = await call(s, 'GET', '/api/session');
    recovery = res.json()['recovery'] as Recovery;
    assert.equal(recovery.state, 'published');
    assert.equal(recovery.validArchive, saved.path);
    await stop(s, 'SIGTERM');
  });
});
