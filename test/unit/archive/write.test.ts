import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { fioctlKeyBase, pairNames } from '../../../server/archive/layout.js';
import { findRoleSigner, type KeyArchive, readKeyArchive } from '../../../server/archive/read.js';
import { buildArchiveBytes, readBackAndProve, writeKeyArchive } from '../../../server/archive/write.js';
import { archivePairFiles } from '../../../server/tuf/archive-keys.js';
import { generateKey, type PrivateKey } from '../../../server/tuf/private-key.js';
import { keyIdFoundries } from '../../../server/tuf/public-key.js';
import { parseRoot } from '../../../server/tuf/metadata.js';
import { assertAppError, SHARED_FIXTURES } from '../../helpers/assert-app-error.js';
import { rawTar, tgz } from '../../fixtures/bad-archives/make.js';

const FOUNDRIES = fileURLToPath(new URL('foundries/', SHARED_FIXTURES));
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const work = mkdtempSync(join(tmpdir(), 'tuf-rotate-write-'));
after(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => {
  const d = join(work, `t${n++}`);
  mkdirSync(d);
  return d;
};

let newKey: PrivateKey;
before(async () => {
  newKey = await generateKey('ed25519');
});

function additionFor(archive: KeyArchive, key: PrivateKey): { base: string; keyid: string; additions: { name: string; data: Uint8Array }[] } {
  const keyid = keyIdFoundries(key.publicKey);
  const base = fioctlKeyBase('root', keyid, archive.prefix);
  const files = archivePairFiles(key);
  const names = pairNames(base);
  return {
    base,
    keyid,
    additions: [
      { name: names.pub, data: files.pub },
      { name: names.sec, data: files.sec },
    ],
  };
}

/** Python's tarfile: every member's name, type and SHA-256 of its contents. */
function pythonList(path: string): { name: string; type: string; sha256: string }[] {
  const script = [
    'import tarfile, sys, json, hashlib',
    'out = []',
    'with tarfile.open(sys.argv[1], "r:gz") as t:',
    '    for m in t.getmembers():',
    '        d = t.extractfile(m).read() if m.isfile() else b""',
    '        out.append({"name": m.name, "type": "dir" if m.isdir() else "file" if m.isfile() else "other", "sha256": hashlib.sha256(d).hexdigest()})',
    'print(json.dumps(out))',
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', script, path], { encoding: 'utf8' })) as { name: string; type: string; sha256: string }[];
}

describe('writeKeyArchive', () => {
  for (const fixture of ['offline-keys.v1.tgz', 'offline-keys.v2.tgz', 'garage-sign/example.tgz']) {
    it(`round-trips ${fixture} with one added pair: earlier entries byte-identical, readable by GNU tar and Python`, async () => {
      const inPath = join(FOUNDRIES, fixture);
      const inBytes = new Uint8Array(readFileSync(inPath));
      const inSha = sha(inBytes);
      const archive = await readKeyArchive(inBytes, { name: fixture });
      const { base, keyid, additions } = additionFor(archive, newKey);
      const out = join(fresh(), 'keys.new.tgz');

      const res = await writeKeyArchive(out, archive, additions, {});
      assert.equal(res.path, out);
      const written = new Uint8Array(readFileSync(out));
      assert.equal(res.sha256, sha(written));
      assert.equal(res.bytes, written.length);
      assert.equal(statSync(out).mode & 0o777, 0o600);
      assert.equal(existsSync(`${out}.tmp`), false);
      assert.equal(sha(new Uint8Array(readFileSync(inPath))), inSha, 'input file unchanged');

      const back = await readKeyArchive(written);
      assert.equal(back.entries.length, archive.entries.length + 2);
      archive.entries.forEach((e, i) => {
        const b = back.entries[i];
        assert.ok(b !== undefined);
        const { name, type, mode, mtime, uid, gid, uname, gname } = e;
        assert.deepEqual({ name: b.name, type: b.type, mode: b.mode, mtime: b.mtime, uid: b.uid, gid: b.gid, uname: b.uname, gname: b.gname }, { name, type, mode, mtime, uid, gid, uname, gname });
        if (e.type === 'file' && b.type === 'file') assert.deepEqual(Buffer.from(b.data), Buffer.from(e.data), name);
      });
      const added = back.entries.slice(-2);
      assert.deepEqual(
        added.map((e) => [e.name, e.type, e.mode, e.uid, e.gid]),
        additions.map((a) => [a.name, 'file', 0o600, 0, 0]),
      );
      for (const e of added) assert.ok(Math.abs(e.mtime - Date.now() / 1000) < 120);
      assert.deepEqual(
        back.keys.map((k) => [k.base, k.status]),
        [...archive.keys.map((k) => [k.base, k.status]), [base, 'ok']],
      );

      // GNU tar and Python's tarfile see every entry, with the same contents.
      const gnu = execFileSync('tar', ['-tzf', out], { encoding: 'utf8' }).trim().split('\n');
      assert.deepEqual(
        gnu,
        back.entries.map((e) => e.name),
      );
      execFileSync('tar', ['-tvzf', out]); // verbose listing parses every header field
      const py = pythonList(out);
      assert.deepEqual(
        py.map((m) => m.name),
        back.entries.map((e) => e.name.replace(/\/$/, '')),
      );
      back.entries.forEach((e, i) => {
        assert.equal(py[i]?.type, e.type);
        if (e.type === 'file') assert.equal(py[i]?.sha256, sha(e.data), e.name);
      });

      await readBackAndProve(out, res.sha256, { keyid, publicKey: newKey.publicKey, base });
    });
  }

  it('keeps the ./ prefix for the new pair, and the new key is the root signer of a root that names it', async () => {
    const dir = fresh();
    execFileSync('tar', ['-xzf', join(FOUNDRIES, 'offline-keys.v1.tgz'), '-C', dir]);
    execFileSync('chmod', ['-R', 'u+rwX', dir]);
    execFileSync('tar', ['-czf', join(dir, 'in.tgz'), '-C', dir, './tufrepo']);
    const archive = await readKeyArchive(new Uint8Array(readFileSync(join(dir, 'in.tgz'))));
    const { base, additions } = additionFor(archive, newKey);
    assert.ok(base.startsWith('./tufrepo/keys/fioctl-root-'));
    const out = join(dir, 'out.tgz');
    await writeKeyArchive(out, archive, additions, {});
    const back = await readKeyArchive(new Uint8Array(readFileSync(out)));
    assert.equal(back.keys.find((k) => k.base === base)?.status, 'ok');
    // Still finds the old root key: matching is by key material.
    assert.equal(findRoleSigner(back, parseRoot(readFileSync(join(FOUNDRIES, 'root-v1.json')))).base, './tufrepo/keys/first-root');
  });

  it('refuses to overwrite an existing file (FILE_EXISTS), leaving it and no .tmp behind', async () => {
    const dir = fresh();
    const out = join(dir, 'keys.tgz');
    writeFileSync(out, 'existing');
    const archive = await readKeyArchive(new Uint8Array(readFileSync(join(FOUNDRIES, 'offline-keys.v1.tgz'))));
    await assertAppError(() => writeKeyArchive(out, archive, additionFor(archive, newKey).additions, {}), 'FILE_EXISTS');
    assert.equal(readFileSync(out, 'utf8'), 'existing');
    assert.deepEqual(readdirSync(dir), ['keys.tgz']);
  });

  it('refuses when <path>.tmp exists (ARCHIVE_TMP_EXISTS) and changes nothing', async () => {
    const dir = fresh();
    const out = join(dir, 'keys.tgz');
    writeFileSync(`${out}.tmp`, 'key from a failed rotation');
    const archive = await readKeyArchive(new Uint8Array(readFileSync(join(FOUNDRIES, 'offline-keys.v1.tgz'))));
    await assertAppError(() => writeKeyArchive(out, archive, additionFor(archive, newKey).additions, {}), 'ARCHIVE_TMP_EXISTS');
    assert.equal(readFileSync(`${out}.tmp`, 'utf8'), 'key from a failed rotation');
    assert.deepEqual(readdirSync(dir), ['keys.tgz.tmp']);
    // …also when overwriting was confirmed.
    writeFileSync(out, 'old');
    await assertAppError(() => writeKeyArchive(out, archive, [], { overwrite: true }), 'ARCHIVE_TMP_EXISTS');
    assert.equal(readFileSync(out, 'utf8'), 'old');
  });

  it('with overwrite keeps a backup of the replaced file; without backup replaces it', async () => {
    const dir = fresh();
    const out = join(dir, 'keys.tgz');
    const inBytes = readFileSync(join(FOUNDRIES, 'offline-keys.v1.tgz'));
    writeFileSync(out, inBytes);
    const archive = await readKeyArchive(new Uint8Array(readFileSync(out)));
    const now = new Date('2026-08-23T10:15:00Z');
    const res = await writeKeyArchive(out, archive, additionFor(archive, newKey).additions, { overwrite: true, now });
    assert.equal(res.backupPath, `${out}.bak-20260823T101500Z`);
    assert.deepEqual(readFileSync(`${out}.bak-20260823T101500Z`), inBytes);
    assert.equal(sha(new Uint8Array(readFileSync(out))), res.sha256);
    assert.equal(statSync(out).mode & 0o777, 0o600);

    const again = await readKeyArchive(new Uint8Array(readFileSync(out)));
    const res2 = await writeKeyArchive(out, again, [], { overwrite: true, backup: false });
    assert.equal(res2.backupPath, undefined);
    assert.deepEqual(readdirSync(dir).sort(), ['keys.tgz', 'keys.tgz.bak-20260823T101500Z']);
  });

  it('writes mode 0600 whatever the umask', async () => {
    const dir = fresh();
    const old = process.umask(0o000);
    try {
      const archive = await readKeyArchive(new Uint8Array(readFileSync(join(FOUNDRIES, 'offline-keys.v1.tgz'))));
      await writeKeyArchive(join(dir, 'k.tgz'), archive, [], {});
    } finally {
      process.umask(old);
    }
    assert.equal(statSync(join(dir, 'k.tgz')).mode & 0o777, 0o600);
  });

  it('fails with FILE_WRITE_FAILED into a missing folder', async () => {
    const archive = await readKeyArchive(new Uint8Array(readFileSync(join(FOUNDRIES, 'offline-keys.v1.tgz'))));
    await assertAppError(() => writeKeyArchive(join(work, 'no-such-dir', 'k.tgz'), archive, [], {}), 'FILE_WRITE_FAILED');
  });
});

describe('buildArchiveBytes', () => {
  it('refuses an addition whose name is already in the archive (also spelled ./…)', async () => {
    const archive = await readKeyArchive(new Uint8Array(readFileSync(join(FOUNDRIES, 'offline-keys.v1.tgz'))));
    const data = new Uint8Array([1]);
    await assertAppError(() => buildArchiveBytes(archive, [{ name: 'tufrepo/keys/first-root.sec', data }]), 'ARCHIVE_INVALID');
    await assertAppError(() => buildArchiveBytes(archive, [{ name: './tufrepo/keys/first-root.pub', data }]), 'ARCHIVE_INVALID');
    await assertAppError(() => buildArchiveBytes(archive, [{ name: 'a', data }, { name: 'a', data }]), 'ARCHIVE_INVALID');
    await assertAppError(() => buildArchiveBytes(archive, [{ name: '../evil', data }]), 'ARCHIVE_UNSAFE_ENTRY');
  });

  it('writes long names (ustar prefix, pax path) and UTF-8 names that GNU tar and Python read back', async () => {
    const longDir = `tufrepo/${'d'.repeat(140)}`;
    const veryLong = `tufrepo/${'n'.repeat(230)}.pub`;
    const archive = await readKeyArchive(tgz(rawTar([{ name: 'tufrepo/', type: '5', mode: 0o700 }])));
    const bytes = await buildArchiveBytes(archive, [
      { name: `${longDir}/${'f'.repeat(90)}.sec`, data: new TextEncoder().encode('a') },
      { name: veryLong, data: new TextEncoder().encode('b') },
      { name: 'tufrepo/keys/ünïcode:2020-09-11T10:00:00.pub', data: new TextEncoder().encode('c') },
    ]);
    const back = await readKeyArchive(bytes);
    const names = back.entries.map((e) => e.name);
    assert.deepEqual(names, ['tufrepo/', `${longDir}/${'f'.repeat(90)}.sec`, veryLong, 'tufrepo/keys/ünïcode:2020-09-11T10:00:00.pub']);
    const path = join(fresh(), 'long.tgz');
    writeFileSync(path, bytes);
    assert.deepEqual(execFileSync('tar', ['-tzf', path], { encoding: 'utf8' }).trim().split('\n'), names);
    assert.deepEqual(
      pythonList(path).map((m) => m.name),
      names.map((x) => x.replace(/\/$/, '')),
    );
  });

  it('keeps pax-only fields: big uid, long user name, fractional mtime', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'f.pub'), 'x');
    const src = join(dir, 'src.tgz');
    execFileSync('tar', [
      '--format=pax',
      '--owner=a-very-long-user-name-that-needs-pax:3000000',
      '--group=g:3000001',
      '--mtime=@1600000000.5',
      '-czf',
      src,
      '-C',
      dir,
      'f.pub',
    ]);
    const archive = await readKeyArchive(new Uint8Array(readFileSync(src)));
    const back = await readKeyArchive(await buildArchiveBytes(archive, []));
    const [e] = back.entries;
    assert.equal(e?.uid, 3000000);
    assert.equal(e?.uname, 'a-very-long-user-name-that-needs-pax');
    assert.equal(e?.gname, 'g');
    assert.equal(e?.mtime, 1600000000.5);
  });
});

describe('readBackAndProve', () => {
  async function written(): Promise<{ out: string; sha256: string; base: string; keyid: string }> {
    const archive = await readKeyArchive(new Uint8Array(readFileSync(join(FOUNDRIES, 'offline-keys.v2.tgz'))));
    const { base, keyid, additions } = additionFor(archive, newKey);
    const out = join(fresh(), 'keys.tgz');
    const res = await writeKeyArchive(out, archive, additions, {});
    return { out, sha256: res.sha256, base, keyid };
  }

  it('proves the new pair signs for the expected public key', async () => {
    const w = await written();
    await readBackAndProve(w.out, w.sha256, { keyid: w.keyid, publicKey: newKey.publicKey, base: w.base });
  });

  it('fails on a different hash, a different key, a missing pair, a loose mode, a missing file', async () => {
    const w = await written();
    const other = await generateKey('ed25519');
    await assertAppError(() => readBackAndProve(w.out, '00'.repeat(32), { keyid: w.keyid, publicKey: newKey.publicKey, base: w.base }), 'ARCHIVE_READBACK_FAILED');
    await assertAppError(() => readBackAndProve(w.out, w.sha256, { keyid: w.keyid, publicKey: other.publicKey, base: w.base }), 'ARCHIVE_READBACK_FAILED');
    await assertAppError(
      () => readBackAndProve(w.out, w.sha256, { keyid: w.keyid, publicKey: newKey.publicKey, base: 'tufrepo/keys/first-root' }),
      'ARCHIVE_READBACK_FAILED',
    );
    await assertAppError(() => readBackAndProve(w.out, w.sha256, { keyid: w.keyid, publicKey: newKey.publicKey, base: 'tufrepo/keys/nothing' }), 'ARCHIVE_READBACK_FAILED');
    chmodSync(w.out, 0o644);
    await assertAppError(() => readBackAndProve(w.out, w.sha256, { keyid: w.keyid, publicKey: newKey.publicKey, base: w.base }), 'ARCHIVE_READBACK_FAILED');
    await assertAppError(() => readBackAndProve(`${w.out}.nope`, w.sha256, { keyid: w.keyid, publicKey: newKey.publicKey, base: w.base }), 'ARCHIVE_READBACK_FAILED');
  });

  it('fails when the file on disk was damaged after writing', async () => {
    const w = await written();
    const bytes = readFileSync(w.out);
    const damaged = Buffer.from(bytes);
    damaged[damaged.length - 10] = (damaged[damaged.length - 10] ?? 0) ^ 0xff;
    writeFileSync(w.out, damaged);
    const e = await assertAppError(() => readBackAndProve(w.out, sha(damaged), { keyid: w.keyid, publicKey: newKey.publicKey, base: w.base }), 'ARCHIVE_READBACK_FAILED');
    assert.ok(!e.message.includes('PRIVATE'));
  });

  it('works for an ECDSA P-256 key (standard repositories)', async () => {
    const ec = await generateKey('ecdsa');
    const archive = await readKeyArchive(new Uint8Array(readFileSync(join(FOUNDRIES, 'offline-keys.v1.tgz'))));
    const { base, keyid, additions } = additionFor(archive, ec);
    const out = join(fresh(), 'keys.tgz');
    const res = await writeKeyArchive(out, archive, additions, {});
    await readBackAndProve(out, res.sha256, { keyid, publicKey: ec.publicKey, base });
  });

  it('works for an RSA key too', async () => {
    const rsa = await generateKey('rsa');
    const archive = await readKeyArchive(new Uint8Array(readFileSync(join(FOUNDRIES, 'garage-sign/example.tgz'))));
    const { base, keyid, additions } = additionFor(archive, rsa);
    const out = join(fresh(), 'keys.tgz');
    const res = await writeKeyArchive(out, archive, additions, {});
    await readBackAndProve(out, res.sha256, { keyid, publicKey: rsa.publicKey, base });
  });
});
