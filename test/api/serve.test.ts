import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cli } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('tuf-rotate serve', () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-serve-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('prints one URL line, serves the practice factory made in ./practice/factory, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(ROOT, 'server/main.ts'), 'serve', '--port', '0', '--open'], {
      cwd: tmp,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, XDG_DATA_HOME: path.join(tmp, 'data') },
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('\n')) resolve(stdout.split('\n')[0] ?? '');
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
      setTimeout(() => reject(new Error(`no URL printed; stderr: ${stderr}`)), 20_000);
    });
    try {
      const m = /^tuf-rotate: serving on (http:\/\/127\.0\.0\.1:(\d+))\/#token=([A-Za-z0-9_-]{43})$/.exec(line);
      assert.ok(m, line);
      const [, origin, , token] = m;
      const res = await fetch(`${origin}/api/session`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
      const session = (await res.json()) as { step: string; target: { kind: string; description: string } };
      assert.equal(session.target.kind, 'practice');
      assert.match(session.target.description, /^practice factory /);
      await fs.stat(path.join(tmp, 'practice', 'factory', 'factory.json'));
      const archive = path.join(tmp, 'practice', 'factory', 'offline-keys.tgz');
      await fs.stat(archive);
      assert.ok(stderr.includes(archive), `stderr names the key archive: ${stderr}`);
      const root = await fetch(`${origin}/api/root`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(root.status, 200);
      assert.equal(((await root.json()) as { version: number }).version, 1);
      assert.equal((await fetch(`${origin}/api/session`)).status, 401);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    }
    assert.equal(stdout.trim().split('\n').length, 1, 'exactly one line on stdout');
  });

  it('refuses two targets and a bad port as bad usage', async () => {
    let r = await cli(['serve', '--repo', 'a', '--offline'], { cwd: tmp });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /at most one target/);
    r = await cli(['serve', '--port', 'http'], { cwd: tmp });
    assert.equal(r.code, 2);
  });
});
