/**
 * The Factory transaction's whole lifecycle through the real CLI against the practice factory over
 * real HTTP on loopback: a transaction left open by a stopped process (review, resume, publish,
 * cancel), a partial apply finished by `publish --factory`, a second admin, and SIGKILL of the CLI
 * at every step boundary of a Factory rotation followed by a fresh run that completes or cancels.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { readKeyArchive } from '../../server/archive/read.js';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { FoundriesBackend, verifyServed } from '../../server/backends/foundries.js';
import type { RotationBase } from '../../server/backends/backend.js';
import { prepareRotation, publishRotation, signAndVerify } from '../../server/ceremony.js';
import { heldKeysForRole, keyRingFromArchive, loadKeyRing } from '../../server/keyring.js';
import { addPracticeUsers } from '../../server/practice/create.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import type { PracticeFaults } from '../../server/practice/faults.js';
import { runCli } from '../../server/cli/run.js';
import { cli } from '../helpers/cli.js';

const MAIN = fileURLToPath(new URL('../../dist/server/main.js', import.meta.url));

interface Practice {
  dir: string;
  factory: string;
  archive: string;
  tokenFile: string;
  app: FastifyInstance;
  url: string;
  client: FoundriesClient;
  /** --factory … --api-url … --token-file … */
  target: (tokenFile?: string) => string[];
}

let tmp: string;
const apps: FastifyInstance[] = [];
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-factory-life-'));
});
after(async () => {
  for (const a of apps) await a.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

async function practice(name: string, o: { users?: string[]; faults?: PracticeFaults } = {}): Promise<Practice> {
  const dir = path.join(tmp, name);
  const made = await cli(['practice', dir, '--dialect', 'foundries', '--key-type', 'ed25519', '--json']);
  assert.equal(made.code, 0, made.stderr);
  const info = made.json() as { factory: string; archive: string; tokenFile: string };
  if (o.users) await addPracticeUsers(dir, o.users);
  const app = await buildPracticeFactory(dir, o.faults ? { faults: o.faults } : {});
  apps.push(app);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const token = (await fs.readFile(info.tokenFile, 'utf8')).trim();
  const client = new FoundriesClient({ apiUrl: url, factory: info.factory, token });
  return { dir, ...info, app, url, client, target: (tf) => ['--factory', info.factory, '--api-url', url, '--token-file', tf ?? info.tokenFile] };
}

function rotateArgs(p: Practice, out: string): string[] {
  return ['rotate', ...p.target(), '--keys', p.archive, '--out', out, '--json'];
}

/** Both chains at `version`, nothing open, and the served roots pass the device rules. */
async function assertPublished(p: Practice, version: number): Promise<void> {
  const st = await p.client.state();
  assert.equal(st.status, 'NONE');
  assert.equal(st.ci.version, version);
  assert.equal(st.prod.version, version);
  assert.equal(st.partial, false);
  const v = await verifyServed(p.client, new Date());
  assert.ok(v.ci.ok, JSON.stringify(v.ci.results.filter((r) => r.status === 'fail')));
  assert.ok(v.prod.ok, JSON.stringify(v.prod.results.filter((r) => r.status === 'fail')));
}

async function archiveHoldsRootKey(file: string, p: Practice): Promise<boolean> {
  const saved = await readKeyArchive(await fs.readFile(file));
  return heldKeysForRole(keyRingFromArchive(saved, file), await p.client.currentRoot()).size > 0;
}

describe('Factory lifecycle through the CLI (practice factory, real HTTP)', () => {
  it('scenario 2: apply answers 503 once; publish --factory re-runs apply and both chains end published', async () => {
    const p = await practice('partial', { faults: { applyStatus: 503, applyOnce: true } });
    const out = path.join(p.dir, 'keys.v2.tgz');
    const r = await cli(rotateArgs(p, out));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /partially applied/);
    assert.doesNotMatch(r.stderr, /No changes were made/);
    assert.match(r.stderr, /CI root version 2 and production root version 1/);
    assert.match(r.stderr, /publish --factory/);
    assert.equal((r.json() as { error: { code: string } }).error.code, 'TARGET_PARTIAL_APPLY');

    const review = await cli(['review', ...p.target(), '--json']);
    assert.equal(review.code, 0, review.stderr);
    const st = (review.json() as { state: { status: string; partial: boolean; ci: { version: number }; prod: { version: number } } }).state;
    assert.deepEqual([st.status, st.partial, st.ci.version, st.prod.version], ['APPLYING', true, 2, 1]);

    // Without a terminal and without --yes: refused at once, nothing applied.
    const noYes = await cli(['publish', ...p.target()]);
    assert.equal(noYes.code, 2);
    assert.match(noYes.stderr, /--yes/);
    assert.equal((await p.client.state()).prod.version, 1);

    const pub = await cli(['publish', ...p.target(), '--yes']);
    assert.equal(pub.code, 0, pub.stderr);
    assert.match(pub.stdout, /Root version 2 published/);
    await assertPublished(p, 2);
    assert.ok(await archiveHoldsRootKey(out, p), 'the saved archive holds the new root key');
    // Nothing more to do: a second publish says so.
    const again = await cli(['publish', ...p.target(), '--yes']);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /Nothing to publish/);
  });

  it('on a terminal, publish asks first, naming the target and the version; "n" changes nothing, "y" publishes', async () => {
    const p = await practice('confirm', { faults: { applyStatus: 503, applyOnce: true } });
    assert.equal((await cli(rotateArgs(p, path.join(p.dir, 'keys.v2.tgz')))).code, 1);
    const asked: string[] = [];
    const run = async (answer: string): Promise<{ code: number; err: string }> => {
      let err = '';
      const code = await runCli(['publish', ...p.target()], {
        stdout: () => {},
        stderr: (t) => (err += t),
        env: {},
        cwd: p.dir,
        isTTY: true,
        prompt: async (q) => {
          asked.push(q);
          return answer;
        },
      });
      return { code, err };
    };
    const no = await run('n');
    assert.equal(no.code, 2);
    assert.match(no.err, /Not confirmed/);
    assert.match(asked[0] ?? '', new RegExp(`^Re-run apply to finish publishing root version 2 \\(CI and production\\) on FoundriesFactory ${p.factory} \\(http://127\\.0\\.0\\.1:\\d+\\)\\? \\[y/N\\] $`));
    assert.equal((await p.client.state()).prod.version, 1);
    assert.equal((await run('y')).code, 0);
    await assertPublished(p, 2);
  });

  it('the page path: publishing again after a partial apply re-runs apply instead of uploading (no 423, no "no changes")', async () => {
    const p = await practice('republish', { faults: { applyStatus: 503, applyOnce: true } });
    const backend = new FoundriesBackend(p.client, { practice: true });
    const ring = await loadKeyRing([p.archive]);
    const prep = await prepareRotation(backend, ring, { keyType: 'ed25519', now: new Date() });
    const signed = await signAndVerify(prep);
    await assert.rejects(publishRotation(backend, prep.current, signed, new Date()), (e: Error & { code?: string; hint?: string }) => {
      assert.equal(e.code, 'TARGET_PARTIAL_APPLY');
      assert.doesNotMatch(`${e.message} ${e.hint ?? ''}`, /No changes were made/);
      return true;
    });
    const done = await publishRotation(backend, prep.current, signed, new Date());
    assert.equal(done.readBack.version, 2);
    await assertPublished(p, 2);
  });

  it('scenario 1: a transaction left open by a stopped process is reported, resumed by txid, and published', async () => {
    const p = await practice('resume');
    // A process opened the transaction and stopped; the caller kept the txid.
    const { txid } = await p.client.init({ message: 'Rotate TUF root offline signing key', firstTime: false, shortcut: true });
    const review = await cli(['review', ...p.target()]);
    assert.equal(review.code, 0);
    assert.match(review.stdout, /TUF root updates STARTED/);
    assert.match(review.stdout, /staged: +version 2/);
    assert.match(review.stdout, /Not ready to apply/);
    const rotateAgain = await cli(rotateArgs(p, path.join(p.dir, 'blocked.tgz')));
    assert.equal(rotateAgain.code, 1);
    assert.match(rotateAgain.stderr, /tuf-rotate cancel --factory/);

    // A new run resumes it by txid: sign the staged root and publish.
    class Resuming extends FoundriesBackend {
      override begin(): Promise<RotationBase> {
        return this.resume(txid);
      }
    }
    const backend = new Resuming(p.client, { practice: true });
    const prep = await prepareRotation(backend, await loadKeyRing([p.archive]), { keyType: 'ed25519', now: new Date() });
    assert.equal(backend.txid, txid);
    assert.equal(prep.base.base.version, 2);
    const signed = await signAndVerify(prep);
    assert.ok(signed.report.ok);
    const done = await publishRotation(backend, prep.current, signed, new Date());
    assert.equal(done.readBack.version, 2);
    await assertPublished(p, 2);
    // Resuming a transaction that is gone is refused with the state named.
    await assert.rejects(new FoundriesBackend(p.client).resume(txid), /No TUF root updates are open/);
  });

  it('scenario 1, cancel: a second admin cancels the open transaction; nothing was published', async () => {
    const p = await practice('cancel', { users: ['admin-b'] });
    await p.client.init({ message: 'left open', firstTime: false, shortcut: false });
    const bToken = path.join(p.dir, 'users', 'admin-b.token');
    // admin-b may not apply without the txid: 403, shown with the hint.
    const noTxid = await cli(['publish', ...p.target(bToken), '--yes', '--json']);
    assert.equal(noTxid.code, 3, noTxid.stderr); // unsigned: waiting for signatures, before any apply
    const r = await cli(['cancel', ...p.target(bToken)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /were canceled/);
    assert.match(r.stdout, /No changes were made to your Factory/);
    assert.equal((await p.client.state()).status, 'NONE');
    const again = await cli(['cancel', ...p.target(bToken), '--json']);
    assert.equal(again.code, 0);
    assert.equal((again.json() as { canceled: boolean }).canceled, false);
  });

  it('cancel while the updates are being applied is refused with code and hint; publish finishes', async () => {
    const p = await practice('cancel-applying', { faults: { applyStatus: 503, applyOnce: true } });
    const out = path.join(p.dir, 'keys.v2.tgz');
    assert.equal((await cli(rotateArgs(p, out))).code, 1);
    const c = await cli(['cancel', ...p.target(), '--json']);
    assert.equal(c.code, 1);
    const err = (c.json() as { error: { code: string; hint: string } }).error;
    assert.equal(err.code, 'TARGET_CONFLICT');
    assert.match(err.hint, /publish --factory/);
    assert.equal((await cli(['publish', ...p.target(), '--yes'])).code, 0);
    await assertPublished(p, 2);
  });

  it('a second admin applies a signed transaction only with the txid (403 otherwise, shown with its hint)', async () => {
    const p = await practice('txid', { users: ['admin-b'] });
    const backend = new FoundriesBackend(p.client, { practice: true });
    const prep = await prepareRotation(backend, await loadKeyRing([p.archive]), { keyType: 'ed25519', now: new Date() });
    const signed = await signAndVerify(prep);
    assert.ok(signed.prod);
    await p.client.put({ txid: '', ciRoot: signed.document, prodRoot: signed.prod });
    const txid = backend.txid ?? '';
    const bToken = path.join(p.dir, 'users', 'admin-b.token');
    const wrong = await cli(['publish', ...p.target(bToken), '--yes', '--json']);
    assert.equal(wrong.code, 1);
    const err = (wrong.json() as { error: { code: string; message: string; hint: string } }).error;
    assert.equal(err.code, 'TARGET_REFUSED');
    assert.match(err.message, /HTTP 403/);
    assert.match(err.hint, /transaction ID \(--txid\)/);
    assert.match(err.hint, /No changes were made/);
    const right = await cli(['publish', ...p.target(bToken), '--txid', txid, '--yes']);
    assert.equal(right.code, 0, right.stderr);
    await assertPublished(p, 2);
  });

  it('review prints the staged roots as a diff against the served ones', async () => {
    const p = await practice('review');
    const backend = new FoundriesBackend(p.client, { practice: true });
    const prep = await prepareRotation(backend, await loadKeyRing([p.archive]), { keyType: 'ed25519', now: new Date() });
    const signed = await signAndVerify(prep);
    assert.ok(signed.prod);
    await p.client.put({ txid: '', ciRoot: signed.document, prodRoot: signed.prod });
    const r = await cli(['review', ...p.target()]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /CI root, staged against served:\n {2}version: 1 -> 2/);
    assert.match(r.stdout, /Production root, staged against served:/);
    assert.match(r.stdout, new RegExp(`\\+ key ${prep.plan.newKeyId}`));
    assert.match(r.stdout, /role root: threshold 1 \(unchanged\)/);
    assert.match(r.stdout, /Signed and ready\. Apply: tuf-rotate publish --factory/);
    const j = await cli(['review', ...p.target(), '--json']);
    const body = j.json() as { ready: boolean; state: { staged: { ci: { version: number; signatures: number } } } };
    assert.equal(body.ready, true);
    assert.equal(body.state.staged.ci.version, 2);
    assert.equal(body.state.staged.ci.signatures, 2);
  });
});

describe('the fault switch: practice-factory --fault and serve --practice-fault', { skip: existsSync(MAIN) ? false : 'run npm run build first (npm test does)' }, () => {
  it('practice-factory DIR --fault apply=503 --users admin-b: a partial apply rehearsed and finished', async () => {
    const dir = path.join(tmp, 'switch');
    const child = spawn(process.execPath, [MAIN, 'practice-factory', dir, '--fault', 'apply=503', '--users', 'admin-b', '--wave', 'wave-1', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
        });
        child.on('error', reject);
        child.on('close', () => reject(new Error(`practice-factory exited: ${out}`)));
      });
      const info = JSON.parse(line) as { factory: string; apiUrl: string; tokenFile: string; faults: string; users: { name: string; tokenFile: string }[] };
      assert.match(info.faults, /apply answers 503 after publishing the CI root only \(a partial apply\) once/);
      assert.deepEqual(info.users.map((u) => u.name), ['owner', 'admin-b']);
      const owner = new FoundriesClient({ apiUrl: info.apiUrl, factory: info.factory, token: (await fs.readFile(info.tokenFile, 'utf8')).trim() });
      assert.deepEqual(Object.keys(await owner.waveTargets()), ['wave-1']);
      assert.deepEqual(Object.keys(await owner.prodTargets()), ['main']);
      const target = ['--factory', info.factory, '--api-url', info.apiUrl, '--token-file', info.tokenFile];
      const out = path.join(dir, 'keys.v2.tgz');
      const r = await cli(['rotate', ...target, '--keys', path.join(dir, 'offline-keys.tgz'), '--out', out]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /partly updated/);
      // Another admin finishes it (re-running apply needs the txid from anyone but the initiator;
      // here the owner re-runs it).
      const pub = await cli(['publish', ...target, '--yes', '--json']);
      assert.equal(pub.code, 0, pub.stderr);
      assert.equal((pub.json() as { version: number }).version, 2);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('a bad fault is bad usage (exit 2), and the help says once or always', async () => {
    const bad = await cli(['practice-factory', path.join(tmp, 'bad-fault'), '--fault', 'apply=ok']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /apply=STATUS\[:once\|:always\]/);
    const serveBad = await cli(['serve', '--practice-fault', 'apply=200']);
    assert.equal(serveBad.code, 2);
    const help = await cli(['practice-factory', '--help']);
    assert.match(help.stdout, /--fault apply=STATUS\[:once\|:always\]/);
  });
});

/** Step boundaries of a Factory rotation (ceremony progress steps, then the backend's own). */
const STEPS = ['load', 'generate', 'begin', 'sign', 'verify', 'save', 'readback', 'saved', 'publish', 'uploaded', 'applied', 'confirm', 'published'] as const;

describe('SIGKILL of the CLI at every step boundary of a Factory rotation', { skip: existsSync(MAIN) ? false : 'run npm run build first (npm test does)' }, () => {
  const rows: string[] = [];
  after(() => {
    if (process.env['TUF_ROTATE_PRINT_TABLE'] === '1') console.log(rows.join('\n'));
  });
  for (const step of STEPS) {
    it(`killed at "${step}": a fresh run reports the transaction and completes or cancels it; no key lost`, async () => {
      const p = await practice(`kill-${step}`);
      const out = path.join(p.dir, 'keys.v2.tgz');
      // Asynchronous: the practice factory answers from this process meanwhile.
      const run = await new Promise<{ signal: NodeJS.Signals | null; status: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [MAIN, ...rotateArgs(p, out)], { env: { ...process.env, TUF_ROTATE_KILL_AT: step }, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (status, signal) => resolve({ status, signal, stderr }));
      });
      assert.equal(run.signal, 'SIGKILL', `reached "${step}" (status ${run.status}, ${run.stderr})`);

      // The fresh run: review reports what is open, then publish finishes it or cancel ends it.
      const review = await cli(['review', ...p.target(), '--json']);
      assert.equal(review.code, 0, review.stderr);
      const st = (review.json() as { state: { status: string; partial: boolean }; ready: boolean });
      const open = st.state.status !== 'NONE';
      const server = await p.client.state();
      assert.equal(st.state.status, server.status, 'review reports the open transaction');
      let action = 'none';
      if (open) {
        const pub = await cli(['publish', ...p.target(), '--yes']);
        if (pub.code === 0) action = 'publish --factory';
        else {
          assert.equal(pub.code, 3, pub.stderr); // staged but unsigned: waiting for signatures
          const c = await cli(['cancel', ...p.target()]);
          assert.equal(c.code, 0, c.stderr);
          action = 'cancel';
        }
      }
      const end = await p.client.state();
      assert.equal(end.status, 'NONE', 'no transaction left open');
      assert.equal(end.ci.version, end.prod.version, 'both chains on one version');
      if (end.ci.version === 2) {
        assert.ok(await archiveHoldsRootKey(out, p), 'the saved archive holds the new root key');
        await assertPublished(p, 2);
      } else {
        assert.equal(end.ci.version, 1);
        // A new rotation from the original archive completes.
        const again = await cli(rotateArgs(p, path.join(p.dir, 'keys.again.tgz')));
        assert.equal(again.code, 0, again.stderr);
        await assertPublished(p, 2);
      }
      rows.push(`| ${step} | ${open ? server.status : 'NONE'} | ${action} | v${end.ci.version} | ${existsSync(out) ? 'yes' : 'no'} |`);
    });
  }
});
