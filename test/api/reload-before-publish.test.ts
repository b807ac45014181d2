/**
 * A page reload between plan and publish (GET /api/session reads and reconciles the work folder's
 * ceremony) must not leave publish reading a stale copy of it: the root-key rotation and a change
 * run on a practice repository each publish after plan → reload → sign → save. Real server process.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { apiCall, apiJob, startServerProcess, stopServerProcess, type ServerProcess } from '../helpers/server-process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'dist/server/main.js');

describe('a reload between plan and publish', { skip: existsSync(MAIN) ? false : 'run `npm run build` first', timeout: 120_000 }, () => {
  let tmp: string;
  const servers: ServerProcess[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-reload-'));
  });
  after(async () => {
    for (const s of servers) await stopServerProcess(s, 'SIGTERM');
    await fs.rm(tmp, { recursive: true, force: true });
  });

  for (const [label, plan] of [
    ['the root-key rotation', { keyType: 'ed25519' }],
    ['several key changes', { keyType: 'ed25519', changes: [{ kind: 'add-key', role: 'root' }, { kind: 'refresh-expiry', days: 100 }] }],
  ] as const) {
    it(`${label}: plan, reload, sign, save, publish`, async () => {
      const dir = path.join(tmp, label.replace(/\W+/g, '-'));
      execFileSync(process.execPath, [MAIN, 'practice', dir, '--json']);
      const s = await startServerProcess([MAIN, 'serve', '--practice', path.join(dir, 'p'), '--work', path.join(dir, 'work'), '--port', '0']);
      servers.push(s);
      assert.equal((await apiCall(s, 'POST', '/api/target', { kind: 'repo', dir: path.join(dir, 'repo') })).status, 200);
      assert.equal((await apiCall(s, 'POST', '/api/archive', new Uint8Array(await fs.readFile(path.join(dir, 'offline-keys.tgz'))))).status, 200);
      assert.equal((await apiJob(s, '/api/plan', plan)).status, 'done');
      // The reload: what the page reads on load.
      assert.equal((await apiCall(s, 'GET', '/api/session')).status, 200);
      assert.equal((await apiJob(s, '/api/sign')).status, 'done');
      assert.equal((await apiCall(s, 'GET', '/api/session')).status, 200);
      assert.equal((await apiJob(s, '/api/save')).status, 'done');
      const published = await apiJob(s, '/api/publish');
      assert.equal(published.status, 'done', JSON.stringify(published.error));
      assert.ok(existsSync(path.join(dir, 'repo/metadata/2.root.json')));
    });
  }
});
