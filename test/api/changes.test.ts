import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSpecPractice } from '../../server/practice/spec-repo.js';
import { testApp } from './helpers.js';

describe('POST /api/changes/preview', () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-api-changes-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('previews several changes (plan, diff, who must sign, the command line) and writes nothing', async () => {
    const made = await createSpecPractice(path.join(tmp, 'practice'));
    const workDir = path.join(tmp, 'work');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir });
    assert.equal((await t.call('POST', '/api/target', { kind: 'repo', dir: made.repo })).statusCode, 200);
    assert.equal((await t.call('POST', '/api/archive', await fs.readFile(made.archive))).statusCode, 200);
    const before = await fs.readdir(path.join(made.repo, 'metadata'));

    const res = await t.call('POST', '/api/changes/preview', {
      changes: [{ kind: 'add-key', role: 'root' }, { kind: 'threshold', role: 'root', threshold: 2 }, { kind: 'rotate-key', role: 'targets' }],
    });
    assert.equal(res.statusCode, 200, res.body);
    const p = res.json<{ newVersion: number; summary: string[]; newKeys: unknown[]; missing: { document: string }[]; notes: string[]; command: string; diff: { roles: { name: string }[] } }>();
    assert.equal(p.newVersion, 2);
    assert.equal(p.summary.length, 3);
    assert.equal(p.newKeys.length, 2);
    // The archive holds the root key; the new keys are made here; the online keys are not uploaded.
    assert.deepEqual(p.missing.map((m) => m.document).sort(), ['snapshot', 'timestamp']);
    assert.match(p.notes[0] ?? '', /targets\.json, snapshot\.json, timestamp\.json/);
    assert.equal(p.command, 'tuf-rotate change <TARGET> --keys <ARCHIVE.tgz> --out <NEW.tgz> --add-key root --threshold root=2 --rotate-key targets');
    assert.deepEqual(await fs.readdir(path.join(made.repo, 'metadata')), before);

    const refused = await t.call('POST', '/api/changes/preview', { changes: [{ kind: 'threshold', role: 'root', threshold: 5 }] });
    assert.equal(refused.statusCode, 422);
    assert.equal(refused.json().error.code, 'ROTATION_LOCKOUT');
    const bad = await t.call('POST', '/api/changes/preview', { changes: [{ kind: 'threshold', role: 'root', threshold: 2, extra: 1 }] });
    assert.equal(bad.statusCode, 400);
    await t.app.close();
  });
});
