/**
 * The file-backed ceremony at the command line (issue 9, scenarios 3 and 5): each ceremony in its
 * own folder of the work folder, reconciled with the target on every open; `status` names the
 * valid archive; `publish WORKDIR` finishes an interrupted publish; outputs are checked first.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verifyLog } from '../../server/ceremony/log.js';
import { CeremonyStore } from '../../server/ceremony/store.js';
import { LocalRepoBackend } from '../../server/backends/local-repo.js';
import { assertValidArchive, clientsAccept } from '../helpers/accept.js';
import { runCli } from '../../server/cli/run.js';
import { cli } from '../helpers/cli.js';

const sha = async (file: string): Promise<string> => createHash('sha256').update(await fs.readFile(file)).digest('hex');

interface Status {
  state: string;
  validArchive: string | null;
  version?: number;
  target?: { description: string };
  ceremony?: string;
  message: string;
}

describe('the ceremony at the command line', () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-ceremony-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  async function practice(name: string): Promise<{ dir: string; repo: string; archive: string; work: string }> {
    const dir = path.join(tmp, name);
    const made = await cli(['practice', dir, '--json']);
    assert.equal(made.code, 0, made.stderr);
    const { target: repo, archive } = made.json() as { target: string; archive: string };
    return { dir, repo, archive, work: path.join(dir, 'work') };
  }

  it('scenario 3: status names the new archive after a rotation, checks --repo, and a later failed run does not change the answer', async () => {
    const p = await practice('s3');
    const other = await practice('s3-other');
    const out = path.join(p.dir, 'keys.v2.tgz');
    const r = await cli(['rotate', '--keys', p.archive, '--out', out, '--repo', p.repo, '--work', p.work, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const id = (r.json() as { ceremony: string }).ceremony;

    let s = await cli(['status', p.work, '--json']);
    assert.equal(s.code, 0, s.stderr);
    let st = s.json() as unknown as Status;
    assert.equal(st.state, 'published');
    assert.equal(st.validArchive, out);
    assert.equal(st.version, 2);
    await assertValidArchive(p.repo, st.validArchive);

    // --repo is checked against the ceremony's target: another repository gets no answer from this folder.
    s = await cli(['status', p.work, '--repo', other.repo, '--json']);
    assert.equal(s.code, 0, s.stderr);
    st = s.json() as unknown as Status;
    assert.equal(st.state, 'none');
    assert.equal(st.validArchive, null);
    assert.equal(st.version, 1);

    // A later run that fails (the old archive no longer signs) gets its own folder and changes no answer.
    const bad = await cli(['rotate', '--keys', p.archive, '--out', path.join(p.dir, 'keys.v3.tgz'), '--repo', p.repo, '--work', p.work]);
    assert.notEqual(bad.code, 0);
    const store = new CeremonyStore(p.work);
    const all = await store.list();
    assert.equal(all.length, 2);
    assert.equal((await store.load(id)).state, 'published');
    for (const args of [[p.work], [p.work, '--repo', p.repo]]) {
      st = (await cli(['status', ...args, '--json'])).json() as unknown as Status;
      assert.equal(st.validArchive, out, `status ${args.join(' ')}: ${st.message}`);
      assert.ok(!/nothing-published|recovery/.test(st.message));
    }
    await assertValidArchive(p.repo, st.validArchive);
    assert.equal(await clientsAccept(p.repo), 2);

    // The ceremony's files: 0600, no secret, the event log's chain holds.
    for (const c of all) {
      const dir = store.dir(c.id);
      for (const f of await fs.readdir(dir)) {
        const file = path.join(dir, f);
        assert.equal((await fs.stat(file)).mode & 0o777, 0o600, file);
        const text = await fs.readFile(file, 'utf8');
        assert.ok(!/PRIVATE KEY|"private"/.test(text), `no secret in ${file}`);
      }
      assert.ok((await verifyLog(dir)).ok);
    }
  });

  it('a keys-saved ceremony: status says keep both, a new rotate refuses naming what it would abandon, publish WORKDIR finishes it', async () => {
    const p = await practice('saved');
    const out = path.join(p.dir, 'keys.v2.tgz');
    // Stopped at the publish step boundary, after the archive was saved (as a crash would stop it).
    const code = await runCli(['rotate', '--keys', p.archive, '--out', out, '--repo', p.repo, '--work', p.work], {
      stdout: () => undefined,
      stderr: () => undefined,
      env: {},
      cwd: tmp,
      onStep: (step) => {
        if (step === 'publish') throw new Error('stopped');
      },
    });
    assert.notEqual(code, 0);
    assert.ok(existsSync(out));
    assert.equal((await new LocalRepoBackend(p.repo).currentRoot()).version, 1);
    let st = (await cli(['status', '--work', p.work, '--json'])).json() as unknown as Status & { newArchive: { path: string } };
    assert.equal(st.state, 'keys-saved');
    assert.equal(st.validArchive, p.archive);
    assert.equal(st.newArchive.path, out);

    const again = await cli(['rotate', '--keys', p.archive, '--out', path.join(p.dir, 'other.tgz'), '--repo', p.repo, '--work', p.work]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /keys\.v2\.tgz/);
    assert.ok(!existsSync(path.join(p.dir, 'other.tgz')));

    const pub = await cli(['publish', p.work, '--yes', '--json']);
    assert.equal(pub.code, 0, pub.stderr);
    st = (await cli(['status', p.work, '--json'])).json() as unknown as Status & { newArchive: { path: string } };
    assert.equal(st.state, 'published');
    assert.equal(st.validArchive, out);
    await assertValidArchive(p.repo, st.validArchive);
    assert.equal(await clientsAccept(p.repo), 2);
  });

  it('scenario 5: outputs are checked before any key is generated (exit 2, nothing written)', async () => {
    const p = await practice('s5');
    const before = await sha(p.archive);
    const work = p.work;
    const cases: { args: string[]; re: RegExp }[] = [
      { args: ['--out', p.archive, '--overwrite', '--repo', p.repo], re: /is also an input/ },
      { args: ['--out', p.dir, '--repo', p.repo], re: /is a folder/ },
      { args: ['--out', path.join(p.dir, 'new.tgz'), '--root', path.join(p.repo, 'metadata', 'root.json'), '--out-root', path.join(p.repo, 'metadata', '1.root.json')], re: /already exists/ },
      { args: ['--out', path.join(p.dir, 'new.tgz'), '--root', path.join(p.repo, 'metadata', 'root.json'), '--out-root', path.join(p.repo, 'metadata', 'root.json')], re: /is also an input/ },
      { args: ['--out', path.join(p.dir, 'missing', 'new.tgz'), '--repo', p.repo], re: /not an existing folder/ },
    ];
    for (const c of cases) {
      const r = await cli(['rotate', '--keys', p.archive, '--work', work, ...c.args]);
      assert.equal(r.code, 2, `${c.args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, c.re);
      assert.ok(!existsSync(path.join(p.dir, 'new.tgz')), 'no orphan archive');
    }
    assert.equal(await sha(p.archive), before, 'the input archive is byte-identical');
    assert.equal((await new LocalRepoBackend(p.repo).currentRoot()).version, 1);
    assert.equal((await new CeremonyStore(work).list()).length, 0, 'no ceremony was started');
  });

  it('the default work folder is per-user, never inside a git checkout', async () => {
    const p = await practice('git');
    const home = path.join(tmp, 'home-in-git');
    await fs.mkdir(path.join(home, '.git'), { recursive: true });
    const r = await cli(['rotate', '--keys', p.archive, '--out', path.join(p.dir, 'n.tgz'), '--repo', p.repo], { env: { XDG_DATA_HOME: path.join(home, 'data') } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /git checkout.*--work/);
    assert.ok(!existsSync(path.join(p.dir, 'n.tgz')));
    // --work inside the checkout is allowed: the user asked for it.
    const ok = await cli(['rotate', '--keys', p.archive, '--out', path.join(p.dir, 'n.tgz'), '--repo', p.repo, '--work', path.join(home, 'work')]);
    assert.equal(ok.code, 0, ok.stderr);
    const st = (await cli(['status', path.join(home, 'work'), '--json'])).json() as unknown as Status;
    assert.equal(st.validArchive, path.join(p.dir, 'n.tgz'));
  });
});
