/**
 * The work-folder lock between real processes (built CLI and server, `npm run build` first): a
 * running `serve --work W` holds W/lock, a CLI `rotate` on W is refused with WORK_LOCKED naming the
 * server, `status` (read-only) still answers, and after SIGKILL of the server the stale lock is taken
 * over by the next command, which logs the takeover in the ceremony's event log.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readLog, verifyLog } from '../../server/ceremony/log.js';
import { CeremonyStore } from '../../server/ceremony/store.js';
import { startServerProcess, stopServerProcess } from '../helpers/server-process.js';

const MAIN = fileURLToPath(new URL('../../dist/server/main.js', import.meta.url));

describe('the work-folder lock (real processes)', () => {
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-lock-'));
    env = { ...process.env, XDG_DATA_HOME: path.join(tmp, 'data') };
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [MAIN, ...args], { env, cwd: tmp }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  it('a running serve refuses a CLI rotate on its work folder; after SIGKILL the stale lock is taken over and logged', async () => {
    assert.ok(existsSync(MAIN), 'run npm run build first');
    const dir = path.join(tmp, 'p');
    const made = await run(['practice', dir, '--json']);
    assert.equal(made.code, 0, made.stderr);
    const { target: repo, archive } = JSON.parse(made.stdout.trim().split('\n').pop() ?? '{}') as { target: string; archive: string };
    const work = path.join(dir, 'work');
    const lockFile = path.join(work, 'lock');

    // A first rotation: takes the lock and removes it when it ends.
    const v2 = path.join(dir, 'keys.v2.tgz');
    const first = await run(['rotate', '--keys', archive, '--out', v2, '--repo', repo, '--work', work, '--json']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(existsSync(lockFile), false, 'the lock is removed when the command ends');
    const firstCeremony = await new CeremonyStore(work).currentId();
    assert.ok(firstCeremony);

    // The server holds the lock for its lifetime.
    const server = await startServerProcess([MAIN, 'serve', '--port', '0', '--repo', repo, '--work', work], env);
    try {
      const held = JSON.parse(await fs.readFile(lockFile, 'utf8')) as { pid: number; host: string; command: string; since: string };
      assert.equal(held.pid, server.child.pid);
      assert.equal(held.host, hostname());
      assert.equal(held.command, 'serve');
      assert.ok(!Number.isNaN(Date.parse(held.since)));

      const v3 = path.join(dir, 'keys.v3.tgz');
      const refused = await run(['rotate', '--keys', v2, '--out', v3, '--repo', repo, '--work', work]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, new RegExp(`in use by another tuf-rotate \\(pid ${held.pid}, "serve", since ${held.since.replace(/[.]/g, '\\.')}\\)`));
      assert.match(refused.stderr, /Wait for it to finish or stop it/);
      assert.equal(existsSync(v3), false, 'nothing written by the refused command');
      const publishRefused = await run(['publish', work]);
      assert.equal(publishRefused.code, 2, publishRefused.stderr);
      assert.match(publishRefused.stderr, /in use by another tuf-rotate/);

      // Read-only opens take no lock.
      const status = await run(['status', work, '--json']);
      assert.equal(status.code, 0, status.stderr);
      assert.equal((JSON.parse(status.stdout.trim().split('\n').pop() ?? '{}') as { state: string }).state, 'published');

      // SIGKILL: the lock stays behind, stale.
      await stopServerProcess(server, 'SIGKILL');
      assert.equal((JSON.parse(await fs.readFile(lockFile, 'utf8')) as { pid: number }).pid, held.pid);

      const taken = await run(['rotate', '--keys', v2, '--out', v3, '--repo', repo, '--work', work, '--json']);
      assert.equal(taken.code, 0, taken.stderr);
      assert.equal(existsSync(lockFile), false);
      const events = await readLog(new CeremonyStore(work).dir(firstCeremony));
      const takeover = events.find((e) => e.what === 'work-lock-taken-over');
      assert.ok(takeover, JSON.stringify(events.map((e) => e.what)));
      assert.equal(takeover.data?.['stalePid'], held.pid);
      assert.equal(takeover.data?.['staleCommand'], 'serve');
      assert.equal((await verifyLog(new CeremonyStore(work).dir(firstCeremony))).ok, true);
    } finally {
      await stopServerProcess(server, 'SIGKILL');
    }
  });

  it('an unreadable lock file is not taken over: the command is refused and says what to do', async () => {
    const work = path.join(tmp, 'w2');
    await fs.mkdir(work, { recursive: true });
    await fs.writeFile(path.join(work, 'lock'), '');
    const r = await run(['publish', work]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /cannot be read.*delete .*lock/s);
  });
});
