/**
 * A holder whose key lives on a token signs the request's bytes with plain `pkcs11-tool` (SoftHSM
 * here): the raw RSA-PSS signature it writes (salt 32, pkcs11-tool's default) is imported, verified,
 * and the root published. (Ed25519 on SoftHSM signs only single-part: pkcs11-tool feeds inputs over
 * 1 KiB in parts, so `--mechanism EDDSA` fails there with CKR_OPERATION_NOT_INITIALIZED.)
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli } from '../helpers/cli.js';

const MODULE = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'].find((m) => existsSync(m));
const hasTool = (() => {
  try {
    execFileSync('pkcs11-tool', ['--help'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    return (e as { status?: number }).status !== undefined; // it ran (and printed usage with a non-zero status)
  }
})();
const skip = MODULE === undefined || !hasTool ? 'SoftHSM or pkcs11-tool is missing: pkcs11-tool import test skipped' : false;

describe('a raw signature made with pkcs11-tool (SoftHSM, RSA-PSS)', { skip }, () => {
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  const p11 = (args: string[]): void => {
    execFileSync('pkcs11-tool', ['--module', MODULE ?? '', '--token-label', 'holder', ...args], { env, stdio: 'pipe' });
  };

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-req-p11-'));
    await fs.mkdir(path.join(tmp, 'tokens'));
    await fs.writeFile(path.join(tmp, 'softhsm2.conf'), `directories.tokendir = ${path.join(tmp, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    env = { ...process.env, SOFTHSM2_CONF: path.join(tmp, 'softhsm2.conf') };
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'holder', '--pin', '1234', '--so-pin', '5678'], { env, stdio: 'pipe' });
    p11(['--login', '--pin', '1234', '--keypairgen', '--key-type', 'rsa:2048', '--id', '02', '--label', 'root']);
    p11(['--read-object', '--type', 'pubkey', '--id', '02', '-o', path.join(tmp, 'token.pub')]);
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('imports the token signature over REQ.root.v2.bin and publishes', async () => {
    const made = await cli(['practice', path.join(tmp, 'p'), '--dialect', 'spec', '--json']);
    const { target: repo, archive } = made.json() as { target: string; archive: string };
    const reqFile = path.join(tmp, 'REQ.json');
    const r = await cli(['request', '--repo', repo, '--keys', archive, '--rotate-key', 'root', '--new-key', path.join(tmp, 'token.pub'), '--out', reqFile, '--owner', `${path.join(tmp, 'token.pub')}=token-holder`]);
    assert.equal(r.code, 3, r.stderr + r.stdout);
    p11(['--login', '--pin', '1234', '--sign', '--mechanism', 'SHA256-RSA-PKCS-PSS', '--id', '02', '-i', path.join(tmp, 'REQ.root.v2.bin'), '-o', path.join(tmp, 'token.sig')]);
    const imp = await cli(['sign', reqFile, '--import', path.join(tmp, 'token.sig')]);
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stdout, /signed by token-holder/);
    const p = await cli(['publish', reqFile, '--repo', repo]);
    assert.equal(p.code, 0, p.stderr + p.stdout);
    assert.match(p.stdout, /Root version 2 published/);
  });
});
