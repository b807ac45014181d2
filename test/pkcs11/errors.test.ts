/**
 * What goes wrong with a token, each as a coded error with a hint, and nothing published: a wrong
 * PIN, no PIN (and no terminal), a missing token, a missing module, a PIN inside the URI, a key of a
 * type that cannot be used (ECDSA for a Foundries root; a P-384 key), and a key that is not there.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { runCli } from '../../server/cli/run.js';
import { closeModules } from '../../server/signers/pkcs11-module.js';
import { cli } from '../helpers/cli.js';
import { pkcs11Skip, softToken, SOFTHSM_MODULE, tempDir, USER_PIN } from './softhsm.js';
import type { SoftToken } from './softhsm.js';

const run = promisify(execFile);

interface Failure {
  code: string;
  message: string;
  hint: string;
}

describe('PKCS#11: refusals', { skip: pkcs11Skip() }, () => {
  let tmp: string;
  let token: SoftToken;
  let repo: string;
  let archive: string;
  let n = 0;
  before(async () => {
    tmp = await tempDir('tuf-rotate-p11-err-');
    token = await softToken(tmp, 'err-token');
    const made = await cli(['practice', path.join(tmp, 'repo'), '--dialect', 'spec', '--key-type', 'ed25519', '--json']);
    assert.equal(made.code, 0, made.stderr);
    ({ target: repo, archive } = made.json() as { target: string; archive: string });
  });
  after(async () => {
    closeModules();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  /** Runs a rotation that must fail with `code`; checks the hint, exit status and that nothing was published or written. */
  async function refused(args: string[], code: string, exit = 2): Promise<Failure> {
    const out = path.join(tmp, `out-${++n}.tgz`);
    const r = await cli(['rotate', '--repo', repo, '--out', out, '--json', ...args]);
    assert.equal(r.code, exit, r.stderr);
    const { error } = r.json() as { error: Failure };
    assert.equal(error.code, code, error.message);
    assert.ok(error.hint.length > 10, 'a hint says what to do');
    assert.ok(!r.stdout.includes(USER_PIN) && !r.stderr.includes(USER_PIN), 'no PIN in the output');
    assert.ok(!existsSync(path.join(repo, 'metadata', '2.root.json')), 'nothing published');
    assert.ok(!existsSync(out), 'no archive written');
    return error;
  }

  it('a wrong PIN: PKCS11_PIN_INCORRECT, before any key is generated', async () => {
    const bad = path.join(tmp, 'bad-pin');
    await fs.writeFile(bad, '000000\n', { mode: 0o600 });
    const e = await refused(['--keys', archive, '--new-key', 'pkcs11:token=err-token;object=k1', '--pin-file', bad, '--ack-no-backup', 'test'], 'PKCS11_PIN_INCORRECT');
    assert.match(e.message, /err-token/);
    assert.ok(!e.message.includes('000000') && !e.hint.includes('000000'));
  });

  it('no PIN and no terminal: PKCS11_PIN_REQUIRED at once (never waits)', async () => {
    await refused(['--keys', archive, '--new-key', 'pkcs11:token=err-token;object=k2', '--ack-no-backup', 'test'], 'PKCS11_PIN_REQUIRED');
  });

  it('a PIN inside the URI is refused without echoing it', async () => {
    const e = await refused(['--keys', archive, '--new-key', `pkcs11:token=err-token;object=k3?pin-value=${USER_PIN}`], 'PKCS11_URI_INVALID');
    assert.ok(!e.message.includes(USER_PIN));
  });

  it('a missing token: PKCS11_TOKEN_NOT_FOUND naming the tokens present', async () => {
    const e = await refused(['--keys', archive, '--new-key', 'pkcs11:token=no-such-token;object=k4', '--pin-file', token.pinFile, '--ack-no-backup', 'test'], 'PKCS11_TOKEN_NOT_FOUND');
    assert.match(e.message, /"err-token"/);
    await refused(['--keys', 'pkcs11:token=no-such-token;object=root', '--pin-file', token.pinFile], 'PKCS11_TOKEN_NOT_FOUND');
  });

  it('a missing module: PKCS11_UNAVAILABLE', async () => {
    const e = await refused(['--keys', archive, '--new-key', 'pkcs11:token=err-token;object=k5', '--pkcs11-module', path.join(tmp, 'no-such-module.so'), '--pin-file', token.pinFile, '--ack-no-backup', 'test'], 'PKCS11_UNAVAILABLE');
    assert.match(e.hint, /--pkcs11-module/);
  });

  it('a key that is not on the token: PKCS11_KEY_NOT_FOUND', async () => {
    await refused(['--keys', 'pkcs11:token=err-token;object=never-made', '--pin-file', token.pinFile], 'PKCS11_KEY_NOT_FOUND');
  });

  it('the backup gate: a lone token key without --ack-no-backup is refused before anything is generated', async () => {
    const e = await refused(['--keys', archive, '--new-key', 'pkcs11:token=err-token;object=k6', '--pin-file', token.pinFile], 'BACKUP_ACK_REQUIRED', 1);
    assert.match(e.hint, /--ack-no-backup/);
  });

  it('a key of the wrong type: ECDSA for a Foundries root, refused before it is generated', async () => {
    const made = await cli(['practice', path.join(tmp, 'fio'), '--dialect', 'foundries', '--key-type', 'ed25519', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const fio = made.json() as { archive: string };
    // The offline target (root file in, root file out) needs no server for a refusal.
    const rootFile = path.join(tmp, 'fio', 'ci', '1.root.json');
    const out = path.join(tmp, 'fio-out.tgz');
    const r = await cli(['rotate', '--root', rootFile, '--out-root', path.join(tmp, 'fio-2.json'), '--keys', fio.archive, '--out', out,
      '--new-key', 'pkcs11:token=err-token;object=fio-ec', '--new-key-type', 'ecdsa', '--pin-file', token.pinFile, '--ack-no-backup', 'test', '--json']);
    assert.equal(r.code, 2, r.stderr);
    const e = (r.json() as { error: Failure }).error;
    assert.equal(e.code, 'KEY_TYPE_UNSUPPORTED');
    assert.match(e.hint, /ed25519/);
    assert.ok(!existsSync(out) && !existsSync(path.join(tmp, 'fio-2.json')));
    // Nothing was made on the token.
    const gen = await cli(['rotate', '--keys', 'pkcs11:token=err-token;object=fio-ec', '--repo', repo, '--out', out, '--pin-file', token.pinFile, '--json']);
    assert.equal((gen.json() as { error: Failure }).error.code, 'PKCS11_KEY_NOT_FOUND');
  });

  it('a key of the wrong type on the token (ECDSA P-384): KEY_TYPE_UNSUPPORTED', { skip: existsSync('/usr/bin/pkcs11-tool') ? false : 'pkcs11-tool (opensc) is not installed' }, async () => {
    await run('pkcs11-tool', ['--module', SOFTHSM_MODULE ?? '', '--token-label', 'err-token', '--login', '--pin', USER_PIN, '--keypairgen', '--key-type', 'EC:secp384r1', '--label', 'p384', '--id', '38'], {
      env: { ...process.env, SOFTHSM2_CONF: token.conf },
    });
    const e = await refused(['--keys', 'pkcs11:token=err-token;object=p384', '--pin-file', token.pinFile], 'KEY_TYPE_UNSUPPORTED');
    assert.match(e.message, /P-256/);
  });

  it('the token removed between plan and sign: PKCS11_TOKEN_NOT_FOUND, nothing written or published', async () => {
    const gone = await softToken(tmp, 'gone-token');
    const out = path.join(tmp, 'gone.tgz');
    let stdout = '';
    let stderr = '';
    const code = await runCli(
      ['rotate', '--repo', repo, '--keys', archive, '--out', out, '--work', path.join(tmp, 'work-gone'), '--new-key', 'pkcs11:token=gone-token;object=k', '--pin-file', gone.pinFile, '--ack-no-backup', 'test', '--json'],
      {
        stdout: (t) => (stdout += t),
        stderr: (t) => (stderr += t),
        env: {},
        cwd: tmp,
        // The key was made and the plan is ready; now the token goes (its storage is deleted, as if unplugged).
        onStep: (step) => {
          if (step === 'sign') rmSync(path.join(gone.dir, 'tokens'), { recursive: true, force: true });
        },
      },
    );
    assert.equal(code, 2, stderr);
    const error = (JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { error: Failure }).error;
    assert.equal(error.code, 'PKCS11_TOKEN_NOT_FOUND', `${error.message} ${error.hint}`);
    assert.match(error.hint, /nothing was published/);
    assert.ok(!existsSync(out));
    assert.ok(!existsSync(path.join(repo, 'metadata', '2.root.json')));
  });
});
