/**
 * A standard repository rotated to a new root key generated in a SoftHSM2 token, then rotated again
 * with the token key as the old key: tuf-js's Updater (the real client, over loopback) follows to
 * version 3. For Ed25519 and RSA-4096 (PSS, salt 32). The token key cannot be read out of the token.
 */
import assert from 'node:assert/strict';
import { CeremonyStore } from '../../server/ceremony/store.js';
import { createPublicKey, verify as cryptoVerify, constants } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Updater } from 'tuf-js';
import { readKeyArchive } from '../../server/archive/read.js';
import { pinFromFile } from '../../server/signers/pin.js';
import { Pkcs11Signer } from '../../server/signers/pkcs11.js';
import { CK, closeModules, findObjects, openModule } from '../../server/signers/pkcs11-module.js';
import { canonicalBytes } from '../../server/tuf/canonical-json.js';
import { publicKeyOf } from '../../server/tuf/public-key.js';
import { parseRoot } from '../../server/tuf/metadata.js';
import { cli } from '../helpers/cli.js';
import { serveFolder } from '../helpers/static-server.js';
import { filesUnder, pkcs11Skip, softToken, SOFTHSM_MODULE, tempDir, USER_PIN } from './softhsm.js';

async function clientRootVersion(repo: string, clientDir: string): Promise<number> {
  const server = await serveFolder(path.join(repo, 'metadata'));
  try {
    const updater = new Updater({ metadataDir: clientDir, metadataBaseUrl: server.url, config: { fetchRetries: 0 } });
    await updater.refresh();
  } finally {
    await server.close();
  }
  return parseRoot(await fs.readFile(path.join(clientDir, 'root.json'))).version;
}

/** Asks the token for the private key's value (and private exponent): the token must refuse. */
function assertNotExtractable(label: string): void {
  const mod = openModule(SOFTHSM_MODULE ?? '');
  try {
    const slot = mod.p11.C_GetSlotList(true).find((s) => mod.p11.C_GetTokenInfo(s).label.trim() === label);
    assert.ok(slot, `token ${label} present`);
    const session = mod.p11.C_OpenSession(slot, CK.CKF_SERIAL_SESSION);
    mod.p11.C_Login(session, CK.CKU_USER, USER_PIN);
    const [priv] = findObjects(mod, session, [{ type: CK.CKA_CLASS, value: CK.CKO_PRIVATE_KEY }]);
    assert.ok(priv);
    for (const type of [CK.CKA_VALUE, CK.CKA_PRIVATE_EXPONENT]) {
      assert.throws(() => mod.p11.C_GetAttributeValue(session, priv, [{ type }]), /CKR_ATTRIBUTE_SENSITIVE|CKR_ATTRIBUTE_TYPE_INVALID/);
    }
    const [extractable, sensitive] = mod.p11.C_GetAttributeValue(session, priv, [{ type: CK.CKA_EXTRACTABLE }, { type: CK.CKA_SENSITIVE }]);
    assert.equal(extractable?.value[0], 0);
    assert.equal(sensitive?.value[0], 1);
  } finally {
    closeModules();
  }
}

describe('PKCS#11: standard repository, new root key generated in a SoftHSM2 token', { skip: pkcs11Skip() }, () => {
  let tmp: string;
  before(async () => {
    tmp = await tempDir('tuf-rotate-p11-repo-');
  });
  after(async () => {
    closeModules();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  for (const keyType of ['ed25519', 'rsa'] as const) {
    it(`${keyType}: v1 → token key (v2) → signed by the token key (v3); tuf-js ends on version 3`, async () => {
      const dir = path.join(tmp, keyType);
      const token = await softToken(tmp, `tuf-${keyType}`);
      const outputs: string[] = [];
      const made = await cli(['practice', dir, '--dialect', 'spec', '--key-type', 'ed25519', '--json']);
      assert.equal(made.code, 0, made.stderr);
      const { target: repo, archive } = made.json() as { target: string; archive: string };
      const clientDir = path.join(dir, 'client');
      await fs.mkdir(clientDir);
      await fs.copyFile(path.join(repo, 'metadata', '1.root.json'), path.join(clientDir, 'root.json'));

      // Rotation 1: the new root key is generated in the token.
      const v2 = path.join(dir, 'keys.v2.tgz');
      const uri = `pkcs11:token=tuf-${keyType};object=root-${keyType}`;
      const r = await cli(['rotate', '--keys', archive, '--out', v2, '--repo', repo, '--new-key', uri, '--new-key-type', keyType,
        '--pin-file', token.pinFile, '--ack-no-backup', 'practice ceremony, one token', '--json']);
      outputs.push(r.stdout, r.stderr);
      assert.equal(r.code, 0, r.stderr);
      const res = r.json() as { version: number; newKeyId: string; newKeyToken: { uri: string; noBackupAck: string }; ceremony: string; work: string };
      assert.equal(res.version, 2);
      assert.match(res.newKeyToken.uri, new RegExp(`^pkcs11:token=tuf-${keyType};object=root-${keyType};id=(%[0-9A-F]{2})+;type=private$`));
      assert.equal(res.newKeyToken.noBackupAck, 'practice ceremony, one token');
      assert.equal(await clientRootVersion(repo, clientDir), 2);

      // The archive holds the token key's public half and URI, never a .sec for it.
      const written = await readKeyArchive(await fs.readFile(v2));
      const tokenKey = written.keys.find((k) => k.base.endsWith(res.newKeyId));
      assert.equal(tokenKey?.status, 'token');
      assert.equal(tokenKey?.tokenUri, res.newKeyToken.uri);
      assert.ok(!written.entries.some((e) => e.name.endsWith(`${res.newKeyId}.sec`)));
      // The ceremony records where the new key lives (its URI, no secret).
      const c = await new CeremonyStore(res.work).load(res.ceremony);
      const journal = { newKeyToken: c.newKeys.find((k) => k.token)?.token };
      assert.deepEqual(journal.newKeyToken, { uri: res.newKeyToken.uri, noBackupAck: 'practice ceremony, one token' });

      const st = await cli(['status', res.work, '--json']);
      assert.equal(st.code, 0, st.stderr);
      assert.deepEqual((st.json() as { newKeyToken?: unknown }).newKeyToken, journal.newKeyToken);

      // Version 2 is signed by the token key, and for RSA with PSS salt 32 exactly.
      const root2 = parseRoot(await fs.readFile(path.join(repo, 'metadata', '2.root.json')));
      const rk = root2.keys[res.newKeyId];
      assert.ok(rk);
      const pub = publicKeyOf(rk);
      assert.equal(pub.algorithm, keyType);
      if (keyType === 'rsa') assert.equal(pub.bits, 4096);
      const sig = root2.signatures.find((s) => s.keyid === res.newKeyId);
      assert.ok(sig);
      const key = createPublicKey({ key: Buffer.from(pub.spki), format: 'der', type: 'spki' });
      const bytes = canonicalBytes('spec', root2.signedJson);
      const raw = Buffer.from(sig.sig, 'hex');
      if (keyType === 'rsa') {
        assert.ok(cryptoVerify('sha256', bytes, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, raw));
        assert.ok(!cryptoVerify('sha256', bytes, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 20 }, raw));
      } else {
        assert.ok(cryptoVerify(null, bytes, key, raw));
      }

      // Rotation 2: the token key (found through the archive's record) signs as the old key.
      const v3 = path.join(dir, 'keys.v3.tgz');
      const r3 = await cli(['rotate', '--keys', v2, '--out', v3, '--repo', repo, '--pin-file', token.pinFile, '--json']);
      outputs.push(r3.stdout, r3.stderr);
      assert.equal(r3.code, 0, r3.stderr);
      assert.equal(await clientRootVersion(repo, clientDir), 3);
      const root3 = parseRoot(await fs.readFile(path.join(repo, 'metadata', '3.root.json')));
      assert.ok(root3.signatures.some((s) => s.keyid === res.newKeyId), 'the token key signed version 3');
      const v = await cli(['verify', '--trusted', path.join(repo, 'metadata', '1.root.json'), '--repo', repo, '--json']);
      assert.equal(v.code, 0, v.stderr);
      assert.equal((v.json() as { finalVersion: number }).finalVersion, 3);

      // keys.v3.tgz still records the (now retired) token key; a rotation that does not need it asks no PIN.
      const r4 = await cli(['rotate', '--keys', v3, '--out', path.join(dir, 'keys.v4.tgz'), '--repo', repo, '--json']);
      outputs.push(r4.stdout, r4.stderr);
      assert.equal(r4.code, 0, r4.stderr);
      assert.equal(await clientRootVersion(repo, clientDir), 4);

      // The key never left the token.
      assertNotExtractable(`tuf-${keyType}`);

      // No PIN in any output or any file written (the PIN file itself aside; token files hold no plain PIN).
      for (const text of outputs) assert.ok(!text.includes(USER_PIN), 'PIN in output');
      for (const file of [...(await filesUnder(dir)), ...(await filesUnder(token.dir))]) {
        if (file === token.pinFile) continue;
        assert.ok(!(await fs.readFile(file)).includes(USER_PIN), `PIN in ${file}`);
      }
    });
  }

  it('--new-key-exists adopts a key generated in the token by its own tool (as ykman does on a YubiKey)', async () => {
    const dir = path.join(tmp, 'existing');
    const token = await softToken(tmp, 'tuf-existing');
    // Made outside the rotation, as a token's own tool would.
    const made = await Pkcs11Signer.generate('pkcs11:token=tuf-existing;object=made-by-ykman', 'ed25519', { pin: pinFromFile(token.pinFile) });
    const madeUri = made.uri;
    closeModules();
    const p = await cli(['practice', dir, '--dialect', 'spec', '--key-type', 'rsa', '--json']);
    assert.equal(p.code, 0, p.stderr);
    const { target: repo, archive } = p.json() as { target: string; archive: string };
    const dry = await cli(['rotate', '--keys', archive, '--repo', repo, '--new-key', 'pkcs11:token=tuf-existing;object=made-by-ykman', '--new-key-exists',
      '--pin-file', token.pinFile, '--ack-no-backup', 'test', '--dry-run', '--json']);
    assert.equal(dry.code, 0, dry.stderr);
    const r = await cli(['rotate', '--keys', archive, '--out', path.join(dir, 'v2.tgz'), '--repo', repo, '--new-key', 'pkcs11:token=tuf-existing;object=made-by-ykman',
      '--new-key-exists', '--pin-file', token.pinFile, '--ack-no-backup', 'test', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((r.json() as { newKeyToken: { uri: string } }).newKeyToken.uri, madeUri);
    const root2 = parseRoot(await fs.readFile(path.join(repo, 'metadata', '2.root.json')));
    assert.equal(root2.roles['root']?.keyids.length, 1);
    assert.equal(publicKeyOf(root2.keys[root2.roles['root']?.keyids[0] ?? ''] ?? assert.fail('no key')).algorithm, 'ed25519');
  });
});
