/**
 * Fault injection at every step boundary of a rotation (docs/reliability.md): the real CLI process
 * is SIGKILLed as a power cut would stop it (TUF_ROTATE_KILL_AT, a failpoint in server/main.ts), or
 * the file system refuses the output. After each: the input archive is byte-identical; either
 * nothing was published, or the saved archive holds the key the published root needs; and a new
 * run completes the rotation from the right archive.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { readKeyArchive } from '../../server/archive/read.js';
import { LocalRepoBackend } from '../../server/backends/local-repo.js';
import { heldKeysForRole, keyRingFromArchive } from '../../server/keyring.js';
import { assertValidArchive, clientsAccept } from '../helpers/accept.js';
import { cli } from '../helpers/cli.js';
import { apiCall, apiJob, exited, startServerProcess, stopServerProcess } from '../helpers/server-process.js';

const before0 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const MAIN = fileURLToPath(new URL('../../dist/server/main.js', import.meta.url));
const sha = async (file: string): Promise<string> => createHash('sha256').update(await fs.readFile(file)).digest('hex');

/** Step boundaries, in the order a rotation passes them (server/ceremony.ts progress steps). */
const STEPS = ['load', 'generate', 'begin', 'sign', 'verify', 'save', 'readback', 'saved', 'publish', 'confirm', 'published'] as const;
/** The server's step boundaries: plan (load, generate, begin), sign, save (+ recording it), publish. */
const SERVER_STEPS = ['load', 'generate', 'begin', 'sign', 'verify', 'save', 'readback', 'journal', 'check', 'publish', 'confirm'] as const;

interface StatusJson {
  state: string;
  validArchive: string | null;
  newArchive?: { path: string };
  message: string;
}

/** The answer is right when the archive named valid signs for what the target serves (and never the unpublished new one). */
async function validAnswerIsRight(repo: string, st: { validArchive?: string | null }, input: string, newArchive: string): Promise<boolean> {
  const current = await new LocalRepoBackend(repo).currentRoot();
  const named = st.validArchive ?? null;
  if (named === null) return false;
  if (named === input || named === 'the uploaded key archive') return current.version === 1;
  if (!existsSync(named)) return false;
  const ring = keyRingFromArchive(await readKeyArchive(await fs.readFile(named)), named);
  return heldKeysForRole(ring, current).size > 0 && (named !== newArchive || current.version === 2);
}

/** Figures for docs/reliability.md, printed at the end. */
const table: string[] = [];

describe('fault injection: SIGKILL at every step boundary', { skip: existsSync(MAIN) ? false : 'run npm run build first (npm test does)' }, () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-faults-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
    if (table.length > 0) console.log(['| face | killed at | state after | completed by | keys lost | wrong valid-archive answers |', ...table].join('\n'));
  });

  for (const step of STEPS) {
    it(`CLI killed at "${step}": nothing lost, status names the valid archive, and a fresh start completes`, async () => {
      const dir = path.join(tmp, step);
      const made = await cli(['practice', dir, '--json']);
      const { target: repo, archive } = made.json() as { target: string; archive: string };
      const work = path.join(dir, 'work');
      const before = await sha(archive);
      const out = path.join(dir, 'keys.new.tgz');
      const run = spawnSync(process.execPath, [MAIN, 'rotate', '--keys', archive, '--out', out, '--repo', repo, '--work', work, '--json'], {
        env: { ...process.env, TUF_ROTATE_KILL_AT: step },
        encoding: 'utf8',
      });
      assert.equal(run.signal, 'SIGKILL', `the process reached "${step}" and was killed (status ${run.status}, ${run.stderr})`);

      assert.equal(await sha(archive), before, 'input archive byte-identical');
      const current = await new LocalRepoBackend(repo).currentRoot();
      assert.ok(current.version === 1 || current.version === 2);
      if (current.version === 2) {
        // Published: the saved archive must hold a private key of the new root role.
        const saved = await readKeyArchive(await fs.readFile(out));
        assert.ok(heldKeysForRole(keyRingFromArchive(saved, out), current).size > 0, 'saved archive holds the new root key');
      } else if (existsSync(out)) {
        // Not published; if an archive was saved it is complete and readable (atomic write).
        await readKeyArchive(await fs.readFile(out));
      }
      assert.ok(!existsSync(`${out}.tmp`), 'no temp archive left behind');

      // The next start reconciles with the repository and names the valid archive.
      const status = await cli(['status', work, '--repo', repo, '--json']);
      assert.equal(status.code, 0, status.stderr);
      const st = status.json() as unknown as StatusJson;
      const expected = current.version === 2 ? 'published' : step === 'saved' || step === 'publish' ? 'keys-saved' : step === 'save' || step === 'readback' ? 'signed' : 'draft';
      assert.equal(st.state, expected, st.message);
      let wrong = (await validAnswerIsRight(repo, st, archive, out)) ? 0 : 1;

      // Completing from a fresh start: publish WORKDIR finishes a saved ceremony; otherwise a new rotation from the valid archive.
      let by = 'nothing left';
      if (st.state === 'keys-saved') {
        const pub = await cli(['publish', work, '--yes', '--json']);
        assert.equal(pub.code, 0, pub.stderr);
        by = 'publish WORKDIR';
      } else if (st.state !== 'published') {
        const again = await cli(['rotate', '--keys', st.validArchive ?? '', '--out', path.join(dir, 'keys.after.tgz'), '--repo', repo, '--work', work, '--json']);
        assert.equal(again.code, 0, again.stderr);
        by = 'rotate again';
      }
      const end = (await cli(['status', work, '--json'])).json() as unknown as StatusJson;
      assert.equal(end.state, 'published');
      wrong += (await validAnswerIsRight(repo, end, archive, '')) ? 0 : 1;
      await assertValidArchive(repo, end.validArchive);
      assert.equal(await clientsAccept(repo), 2);
      assert.equal(wrong, 0, 'no wrong "valid archive" answer');
      table.push(`| CLI rotate | ${step} | ${st.state} | ${by} | 0 | ${wrong} |`);
    });
  }

  for (const step of SERVER_STEPS) {
    it(`server killed at "${step}": a fresh start reconciles, names the valid archive and completes`, async () => {
      const dir = path.join(tmp, `server-${step}`);
      const made = await cli(['practice', dir, '--json']);
      const { target: repo, archive } = made.json() as { target: string; archive: string };
      const work = path.join(dir, 'work');
      const bytes = new Uint8Array(await fs.readFile(archive));
      const serveArgs = [MAIN, 'serve', '--repo', repo, '--work', work, '--port', '0'];
      const s = await startServerProcess(serveArgs, { ...process.env, TUF_ROTATE_KILL_AT: step });
      const died = exited(s);
      try {
        assert.equal((await apiCall(s, 'POST', '/api/archive', bytes)).status, 200);
        for (const url of ['/api/plan', '/api/sign', '/api/save', '/api/publish']) {
          const end = await apiJob(s, url, url === '/api/plan' ? { keyType: 'ed25519' } : {});
          assert.equal(end.status, 'done', JSON.stringify(end));
        }
        assert.fail(`the server was not killed at "${step}"`);
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
      }
      assert.equal(await died, 'SIGKILL');
      assert.equal(await sha(archive), before0(bytes), 'input archive byte-identical');

      const s2 = await startServerProcess(serveArgs);
      try {
        const rec = (await apiCall(s2, 'GET', '/api/session')).json()['recovery'] as { state: string; validArchive?: string; newArchive?: string; message: string };
        const current = await new LocalRepoBackend(repo).currentRoot();
        const expected = current.version === 2 ? 'published' : step === 'check' || step === 'publish' ? 'keys-saved' : step === 'load' || step === 'generate' || step === 'begin' || step === 'sign' || step === 'verify' ? 'draft' : 'signed';
        assert.equal(rec.state, expected, rec.message);
        let wrong = (await validAnswerIsRight(repo, rec, archive, rec.newArchive ?? '')) ? 0 : 1;
        let by = 'nothing left';
        if (rec.state === 'keys-saved') {
          const pub = await apiJob(s2, '/api/recovery/publish');
          assert.equal(pub.status, 'done', JSON.stringify(pub));
          by = 'recovery publish (page)';
        } else if (rec.state !== 'published') {
          assert.equal((await apiCall(s2, 'POST', '/api/archive', bytes)).status, 200);
          for (const url of ['/api/plan', '/api/sign', '/api/save', '/api/publish']) {
            const end = await apiJob(s2, url, url === '/api/plan' ? { keyType: 'ed25519' } : {});
            assert.equal(end.status, 'done', `${url}: ${JSON.stringify(end)}`);
          }
          by = 'a new ceremony (page)';
        }
        const fin = (await apiCall(s2, 'GET', '/api/session')).json()['recovery'] as { state: string; validArchive?: string };
        assert.equal(fin.state, 'published');
        wrong += (await validAnswerIsRight(repo, fin, archive, '')) ? 0 : 1;
        await assertValidArchive(repo, fin.validArchive);
        assert.equal(await clientsAccept(repo), 2);
        assert.equal(wrong, 0, 'no wrong "valid archive" answer');
        table.push(`| server (page) | ${step} | ${rec.state} | ${by} | 0 | ${wrong} |`);
      } finally {
        await stopServerProcess(s2, 'SIGTERM');
      }
    });
  }

  it('a leftover <out>.tmp (killed during the archive write) is never overwritten: refused, nothing published', async () => {
    const dir = path.join(tmp, 'tmp-left');
    const made = await cli(['practice', dir, '--json']);
    const { target: repo, archive } = made.json() as { target: string; archive: string };
    const out = path.join(dir, 'keys.new.tgz');
    await fs.writeFile(`${out}.tmp`, 'half an archive', { mode: 0o600 });
    const r = await cli(['rotate', '--keys', archive, '--out', out, '--repo', repo]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /tmp/);
    assert.equal(await fs.readFile(`${out}.tmp`, 'utf8'), 'half an archive');
    assert.equal((await new LocalRepoBackend(repo).currentRoot()).version, 1);
  });

  it('an output path the file system refuses: exit 2, nothing published, input unchanged', async () => {
    const dir = path.join(tmp, 'fs-refuses');
    const made = await cli(['practice', dir, '--json']);
    const { target: repo, archive } = made.json() as { target: string; archive: string };
    const before = await sha(archive);
    // The parent of the output path is a regular file (ENOTDIR), as on a missing or unusable mount.
    const r = await cli(['rotate', '--keys', archive, '--out', path.join(archive, 'keys.tgz'), '--repo', repo]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(await sha(archive), before);
    assert.equal((await new LocalRepoBackend(repo).currentRoot()).version, 1);
  });
});

/** Mounts a small tmpfs (needs root; skipped where mounting is not allowed). */
function mountTmpfs(dir: string, opts: string): boolean {
  return spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir]).status === 0;
}

const CAN_MOUNT = ((): boolean => {
  if (process.getuid?.() !== 0) return false;
  const probe = spawnSync('sh', ['-c', 'd=$(mktemp -d) && mount -t tmpfs -o size=8k tmpfs "$d" && umount "$d"; s=$?; rmdir "$d"; exit $s']);
  return probe.status === 0;
})();

describe('fault injection: the file system fails', { skip: !existsSync(MAIN) ? 'run npm run build first' : CAN_MOUNT ? false : 'needs root and mount (tmpfs)' }, () => {
  let tmp: string;
  const mounts: string[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-fsfaults-'));
  });
  after(async () => {
    for (const m of mounts) spawnSync('umount', [m]);
    await fs.rm(tmp, { recursive: true, force: true });
  });

  async function practiceRepo(name: string): Promise<{ repo: string; archive: string; before: string }> {
    const made = await cli(['practice', path.join(tmp, name), '--json']);
    const { target: repo, archive } = made.json() as { target: string; archive: string };
    return { repo, archive, before: await sha(archive) };
  }

  it('no space left on the output device: exit 2, no partial file, nothing published', async () => {
    const p = await practiceRepo('full');
    const full = path.join(tmp, 'full-mnt');
    await fs.mkdir(full);
    assert.ok(mountTmpfs(full, 'size=8k'));
    mounts.push(full);
    // Fill the device so that the archive cannot fit.
    await fs.writeFile(path.join(full, 'filler'), Buffer.alloc(7 * 1024)).catch(() => undefined);
    const r = await cli(['rotate', '--keys', p.archive, '--out', path.join(full, 'keys.tgz'), '--repo', p.repo]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /ENOSPC|space/i);
    assert.deepEqual((await fs.readdir(full)).sort(), ['filler']);
    assert.equal(await sha(p.archive), p.before);
    assert.equal((await new LocalRepoBackend(p.repo).currentRoot()).version, 1);
  });

  it('a read-only output directory: exit 2, nothing published', async () => {
    const p = await practiceRepo('ro');
    const ro = path.join(tmp, 'ro-mnt');
    await fs.mkdir(ro);
    assert.ok(mountTmpfs(ro, 'size=64k,ro'));
    mounts.push(ro);
    const r = await cli(['rotate', '--keys', p.archive, '--out', path.join(ro, 'keys.tgz'), '--repo', p.repo]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(await sha(p.archive), p.before);
    assert.equal((await new LocalRepoBackend(p.repo).currentRoot()).version, 1);
  });

  it('the output on another device than the input and the repository: works (the temp file is beside the output)', async () => {
    const p = await practiceRepo('other-dev');
    const dev = path.join(tmp, 'dev-mnt');
    await fs.mkdir(dev);
    assert.ok(mountTmpfs(dev, 'size=1m'));
    mounts.push(dev);
    const r = await cli(['rotate', '--keys', p.archive, '--out', path.join(dev, 'keys.tgz'), '--repo', p.repo, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await new LocalRepoBackend(p.repo).currentRoot()).version, 2);
    assert.equal((await fs.stat(path.join(dev, 'keys.tgz'))).mode & 0o777, 0o600);
  });
});
