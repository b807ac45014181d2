/** `tuf-rotate change` signs with a token key named by `--keys pkcs11:…`, as rotate does. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeModules } from '../../server/signers/pkcs11-module.js';
import { parseRoot } from '../../server/tuf/metadata.js';
import { cli } from '../helpers/cli.js';
import { pkcs11Skip, softToken, tempDir, USER_PIN } from './softhsm.js';

describe('PKCS#11: change --keys pkcs11:…', { skip: pkcs11Skip() }, () => {
  let tmp: string;
  before(async () => {
    tmp = await tempDir('tuf-rotate-p11-change-');
  });
  after(async () => {
    closeModules();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('refreshes the root expiry, signed in the token; the chain verifies to version 3', async () => {
    const token = await softToken(tmp, 'change-token');
    const dir = path.join(tmp, 'p');
    const made = await cli(['practice', dir, '--dialect', 'spec', '--key-type', 'ed25519', '--json']);
    const { target: repo, archive } = made.json() as { target: string; archive: string };
    const r = await cli(['rotate', '--keys', archive, '--out', path.join(tmp, 'v2.tgz'), '--repo', repo, '--new-key', 'pkcs11:token=change-token;object=root',
      '--pin-file', token.pinFile, '--ack-no-backup', 'test', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const { newKeyToken, newKeyId } = r.json() as { newKeyToken: { uri: string }; newKeyId: string };

    const c = await cli(['change', '--repo', repo, '--keys', newKeyToken.uri, '--keys', path.join(dir, 'online-keys'), '--refresh-expiry', '--pin-file', token.pinFile, '--json']);
    assert.equal(c.code, 0, c.stderr);
    assert.ok(!c.stdout.includes(USER_PIN) && !c.stderr.includes(USER_PIN));
    const v3 = parseRoot(await fs.readFile(path.join(repo, 'metadata', '3.root.json')));
    assert.ok(v3.signatures.some((s) => s.keyid === newKeyId));
    const v = await cli(['verify', '--trusted', path.join(repo, 'metadata', '1.root.json'), '--repo', repo, '--json']);
    assert.equal(v.code, 0, v.stdout);
    assert.equal((v.json() as { finalVersion: number }).finalVersion, 3);
  });
});
