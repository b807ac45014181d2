import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { after, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { type ArchiveFileEntry, DEFAULT_LIMITS } from '../../../server/archive/tar.js';
import { findRoleSigner, type KeyArchive, matchArchiveToRoot, readKeyArchive, summarizeArchive } from '../../../server/archive/read.js';
import { archivePrefix, fioctlKeyBase, secretNameFor } from '../../../server/archive/layout.js';
import { parseRoot } from '../../../server/tuf/metadata.js';
import type { Root } from '../../../server/tuf/model.js';
import { assertAppError, SHARED_FIXTURES } from '../../helpers/assert-app-error.js';
import { buildCases, CORPUS_DIR, ed25519Pair, type Expected, rawTar, tgz, tooManyEntries, zipBomb } from '../../fixtures/bad-archives/make.js';

const FOUNDRIES = fileURLToPath(new URL('foundries/', SHARED_FIXTURES));
const fixture = (p: string): Uint8Array => new Uint8Array(readFileSync(join(FOUNDRIES, p)));
const root = (p: string): Root => parseRoot(readFileSync(join(FOUNDRIES, p)), p);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const ED_ID = '685c4168da58d08895b0a405856875302c70a53daaf2267bf6abbdc90fbfd814';
const RSA_ID = '52f2adff0d110e0a48c0c3d87ae46bea838970796d10e5eddbdd40d1489062c7';

const work = mkdtempSync(join(tmpdir(), 'tuf-rotate-read-'));
after(() => rmSync(work, { recursive: true, force: true }));

function file(a: KeyArchive, name: string): ArchiveFileEntry {
  const e = a.entry(name);
  assert.ok(e !== undefined && e.type === 'file', `${name} is a file entry`);
  return e;
}

/** Every private value in an archive's .sec files (hex, or the base64 lines of a PEM). */
function secretsOf(a: KeyArchive): string[] {
  const out: string[] = [];
  for (const e of a.entries) {
    if (e.type !== 'file' || !e.name.endsWith('.sec')) continue;
    const priv = (JSON.parse(new TextDecoder().decode(e.data)) as { keyval: { private: string } }).keyval.private;
    if (priv.includes('-----BEGIN')) out.push(...priv.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----')));
    else out.push(priv, priv.slice(0, 64), priv.slice(2, 40));
  }
  return out;
}

function assertNoSecrets(text: string, secrets: string[]): void {
  for (const s of ['SECRET-DO-NOT-SHOW', 'PRIVATE KEY', ...secrets]) assert.ok(!text.includes(s), `output must not contain ${s.slice(0, 12)}…`);
}

function views(a: KeyArchive): string {
  return [
    JSON.stringify(a),
    JSON.stringify(summarizeArchive(a)),
    inspect(a, { depth: null }),
    inspect(a.entries, { depth: null }),
    inspect(a.keys, { depth: null }),
    JSON.stringify(a.entries),
    JSON.stringify(a.keys),
    String(a),
    ...a.keys.map((k) => `${inspect(a.privateKey(k.base))} ${JSON.stringify(a.privateKey(k.base))} ${String(a.privateKey(k.base))}`),
  ].join('\n');
}

describe('readKeyArchive', () => {
  it('reads fioctl archive v1: one RSA-4096 pair, mode 0000, mtime 0, no directories', async () => {
    const bytes = fixture('offline-keys.v1.tgz');
    const a = await readKeyArchive(bytes, { name: 'offline-keys.v1.tgz' });
    assert.equal(a.sha256, sha(bytes));
    assert.equal(a.size, bytes.length);
    assert.deepEqual(
      a.entries.map((e) => [e.name, e.type, e.mode, e.mtime, e.uid, e.gid, e.uname, e.gname]),
      [
        ['tufrepo/keys/first-root.pub', 'file', 0, 0, 0, 0, '', ''],
        ['tufrepo/keys/first-root.sec', 'file', 0, 0, 0, 0, '', ''],
      ],
    );
    assert.equal(a.keys.length, 1);
    const [k] = a.keys;
    assert.equal(k?.status, 'ok');
    assert.equal(k?.base, 'tufrepo/keys/first-root');
    assert.equal(k?.secName, 'tufrepo/keys/first-root.sec');
    assert.equal(k?.keytype, 'RSA');
    assert.equal(k?.algorithm, 'rsa');
    assert.equal(k?.publicKey?.bits, 4096);
    assert.equal(a.privateKey('tufrepo/keys/first-root')?.algorithm, 'rsa');
    assert.equal(a.prefix, '');
  });

  it('reads fioctl archive v2: the old pair kept and the new Ed25519 pair', async () => {
    const a = await readKeyArchive(fixture('offline-keys.v2.tgz'));
    assert.deepEqual(
      a.keys.map((k) => [k.base, k.status, k.algorithm]),
      [
        ['tufrepo/keys/first-root', 'ok', 'rsa'],
        [fioctlKeyBase('root', ED_ID), 'ok', 'ed25519'],
      ],
    );
  });

  it('reads the garage-sign archive: directories with modes and owners, pretty JSON, RSA-2048, 128-hex Ed25519', async () => {
    const bytes = fixture('garage-sign/example.tgz');
    const a = await readKeyArchive(bytes);
    const listed = execFileSync('tar', ['-tzf', join(FOUNDRIES, 'garage-sign/example.tgz')], { encoding: 'utf8' }).trim().split('\n');
    assert.deepEqual(
      a.entries.map((e) => e.name),
      listed,
    );
    const keysDir = a.entry('tufrepo/keys/');
    assert.equal(keysDir?.type, 'dir');
    assert.equal(keysDir?.mode, 0o700);
    assert.equal(keysDir?.uname, 'builder');
    assert.equal(file(a, 'tufrepo/keys/root.sec').mode, 0o600);
    assert.deepEqual(
      a.keys.map((k) => [k.base, k.status, k.algorithm, k.publicKey?.bits]),
      [
        ['tufrepo/keys/root', 'ok', 'rsa', 2048],
        ['tufrepo/keys/offline-root', 'ok', 'rsa', 2048],
        ['tufrepo/keys/targets', 'ok', 'rsa', 2048],
        ['tufrepo/keys/offline-targets', 'ok', 'ed25519', 256],
      ],
    );
    // Non-key files are kept byte for byte (and never parsed).
    for (const name of ['tufrepo/config.json', 'tufrepo/credentials.zip', 'tufrepo/roles/root.json']) {
      const onDisk = execFileSync('tar', ['-xOzf', join(FOUNDRIES, 'garage-sign/example.tgz'), name]);
      assert.deepEqual(Buffer.from(file(a, name).data), onDisk, name);
    }
  });

  for (const name of ['offline-keys.v1.tgz', 'offline-keys.v2.tgz', 'garage-sign/example.tgz']) {
    it(`never shows file contents or private keys of ${name} (JSON, summary, inspect)`, async () => {
      const a = await readKeyArchive(fixture(name));
      const secrets = secretsOf(a);
      assert.ok(secrets.length > 0);
      const text = views(a);
      assertNoSecrets(text, secrets);
      for (const e of a.entries) assert.ok(!Object.keys(e).includes('data'), 'data is not enumerable');
      if (name.startsWith('garage-sign')) {
        assert.ok(new TextDecoder().decode(file(a, 'tufrepo/config.json').data).includes('SECRET-DO-NOT-SHOW'), 'the secret is really there');
      }
    });
  }

  it('keeps a ./ prefix and finds keys under ./tufrepo/', async () => {
    const dir = join(work, 'dotslash');
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('tar', ['-xzf', join(FOUNDRIES, 'offline-keys.v2.tgz'), '-C', dir]);
    execFileSync('chmod', ['-R', 'u+rwX', dir]); // fioctl's entries are mode 0000
    const out = join(work, 'dotslash.tgz');
    execFileSync('tar', ['-czf', out, '-C', dir, './tufrepo']);
    const a = await readKeyArchive(new Uint8Array(readFileSync(out)));
    assert.equal(a.prefix, './');
    assert.ok(a.entries.some((e) => e.name === './tufrepo/keys/' && e.type === 'dir'));
    assert.deepEqual(
      a.keys.map((k) => `${k.base} ${k.status}`).sort(),
      ['./tufrepo/keys/first-root ok', `./${fioctlKeyBase('root', ED_ID)} ok`].sort(),
    );
    const signer = findRoleSigner(a, root('root-v2.json'));
    assert.equal(signer.base, `./${fioctlKeyBase('root', ED_ID)}`);
  });

  it('reads long names written by GNU tar as pax and as GNU long names', async () => {
    const long = `tufrepo/keys/${'d'.repeat(120)}/${'n'.repeat(150)}`;
    for (const format of ['pax', 'gnu', 'ustar']) {
      const dir = join(work, `long-${format}`);
      execFileSync('mkdir', ['-p', join(dir, long)]);
      execFileSync('cp', [join(FOUNDRIES, '../go-tuf-ed25519-root.v1.json'), join(dir, long, 'file.json')]);
      const out = join(dir, 'x.tgz');
      let made = true;
      try {
        execFileSync('tar', [`--format=${format}`, '-czf', out, '-C', dir, 'tufrepo'], { stdio: 'ignore' });
      } catch {
        made = false; // ustar cannot hold a 150-byte component: GNU tar refuses, as expected
      }
      if (!made) continue;
      const a = await readKeyArchive(new Uint8Array(readFileSync(out)));
      assert.ok(a.entries.some((e) => e.name === `${long}/file.json` && e.type === 'file'), format);
    }
  });

  it('accepts compact and pretty JSON, lowercase keytypes, and lists a lone .sec as missing-pub', async () => {
    const p = ed25519Pair('lower');
    const lower = (s: string): string => s.replace('ED25519', 'ed25519');
    const pretty = (s: string): string => `${JSON.stringify(JSON.parse(s) as unknown, null, 2)}\n`;
    const a = await readKeyArchive(
      tgz(
        rawTar([
          { name: 'k/a.pub', data: lower(p.pub) },
          { name: 'k/a.sec', data: pretty(lower(p.sec)) },
          { name: 'k/b.sec', data: p.sec },
          { name: 'k/c.pub', data: 'not json' },
        ]),
      ),
    );
    assert.deepEqual(
      a.keys.map((k) => [k.base, k.status]),
      [
        ['k/a', 'ok'],
        ['k/c', 'unparseable'],
        ['k/b', 'missing-pub'],
      ],
    );
    assert.equal(a.keys[2]?.publicKey?.algorithm, 'ed25519');
    assert.equal(a.privateKey('k/b'), undefined);
    assertNoSecrets(views(a), [p.seedHex]);
  });

  it('derives the private name as fioctl does (first .pub replaced)', () => {
    assert.equal(secretNameFor('tufrepo/keys/a.pub'), 'tufrepo/keys/a.sec');
    assert.equal(secretNameFor('x.pub.d/a.pub'), 'x.sec.d/a.pub');
    assert.equal(archivePrefix(['./tufrepo/keys/a.pub', 'README']), './');
    assert.equal(archivePrefix(['tufrepo/keys/a.pub']), '');
  });

  it('refuses more than 10 MiB compressed before inflating', async () => {
    const big = new Uint8Array(DEFAULT_LIMITS.maxCompressedBytes + 1);
    big.set([0x1f, 0x8b, 8]);
    await assertAppError(() => readKeyArchive(big), 'ARCHIVE_TOO_LARGE');
    await assertAppError(() => readKeyArchive(fixture('offline-keys.v1.tgz'), { limits: { maxCompressedBytes: 100 } }), 'ARCHIVE_TOO_LARGE');
  });
});

describe('matchArchiveToRoot and findRoleSigner', () => {
  it('finds the v1 root key in archive v1 and nothing for root v2', async () => {
    const a = await readKeyArchive(fixture('offline-keys.v1.tgz'), { name: 'keys.tgz' });
    assert.deepEqual(matchArchiveToRoot(a, root('root-v1.json')), { held: [{ keyid: RSA_ID, base: 'tufrepo/keys/first-root' }], missing: [], problems: [] });
    assert.deepEqual(matchArchiveToRoot(a, root('root-v2.json')).missing, [ED_ID]);
    const signer = findRoleSigner(a, root('root-v1.json'));
    assert.equal(signer.keyid, RSA_ID);
    assert.equal(signer.privateKey.algorithm, 'rsa');
    const e = await assertAppError(() => findRoleSigner(a, root('root-v2.json')), 'ARCHIVE_NO_ROOT_KEY');
    assert.match(e.message, /685c4168/);
  });

  it('finds the current root key in archive v2 for both root versions', async () => {
    const a = await readKeyArchive(fixture('offline-keys.v2.tgz'));
    assert.equal(findRoleSigner(a, root('root-v1.json')).base, 'tufrepo/keys/first-root');
    assert.equal(findRoleSigner(a, root('root-v2.json')).base, fioctlKeyBase('root', ED_ID));
  });

  it('finds garage-sign root keys (v1: root, v2: offline-root) and the offline targets key', async () => {
    const a = await readKeyArchive(fixture('garage-sign/example.tgz'));
    assert.equal(findRoleSigner(a, root('garage-sign/root-v1.json')).base, 'tufrepo/keys/root');
    const v2 = root('garage-sign/root-v2.json');
    assert.equal(findRoleSigner(a, v2).base, 'tufrepo/keys/offline-root');
    assert.equal(findRoleSigner(a, v2, 'targets').base, 'tufrepo/keys/offline-targets');
  });

  it('matches by public key material, not by file name, key ID or formatting', async () => {
    const v2 = new Map(
      Object.entries({
        pub: execFileSync('tar', ['-xOzf', join(FOUNDRIES, 'offline-keys.v2.tgz'), `tufrepo/keys/fioctl-root-${ED_ID}.pub`], { encoding: 'utf8' }),
        sec: execFileSync('tar', ['-xOzf', join(FOUNDRIES, 'offline-keys.v2.tgz'), `tufrepo/keys/fioctl-root-${ED_ID}.sec`], { encoding: 'utf8' }),
      }),
    );
    const pub = JSON.parse(v2.get('pub') ?? '') as { keyval: { public: string } };
    const upper = JSON.stringify({ keytype: 'ed25519', keyval: { public: ` ${pub.keyval.public.toUpperCase()}\n` } });
    const a = await readKeyArchive(
      tgz(
        rawTar([
          { name: 'somewhere/fioctl-root-0000.pub', data: upper },
          { name: 'somewhere/fioctl-root-0000.sec', data: v2.get('sec') ?? '' },
        ]),
      ),
    );
    assert.equal(findRoleSigner(a, root('root-v2.json')).keyid, ED_ID);
  });
});

describe('bad-archive corpus', () => {
  const dirs = readdirSync(CORPUS_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();

  it('has every case make.ts builds, with the same tar inside', () => {
    const cases = buildCases();
    assert.ok(cases.length >= 14);
    assert.deepEqual(dirs, cases.map((c) => c.name).sort());
    for (const c of cases) {
      const committed = readFileSync(join(CORPUS_DIR, c.name, 'keys.tgz'));
      if (c.name === 'not-gzip' || c.name === 'truncated-gzip') continue;
      assert.deepEqual(gunzipSync(committed), Buffer.from(c.tar ?? []), c.name);
      assert.deepEqual(JSON.parse(readFileSync(join(CORPUS_DIR, c.name, 'expected.json'), 'utf8')), c.expected, c.name);
    }
  });

  for (const name of dirs) {
    it(`${name}: refused with its code, input unchanged, nothing secret in the message`, async () => {
      const dir = join(CORPUS_DIR, name);
      const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
      const path = join(dir, 'keys.tgz');
      const bytes = new Uint8Array(readFileSync(path));
      const before = sha(bytes);
      let message: string;
      if (expected.stage === 'read') {
        const e = await assertAppError(() => readKeyArchive(bytes, { name: 'keys.tgz' }), expected.code as never);
        message = `${e.message} ${e.hint}`;
      } else {
        const rootPath = expected.root ?? '';
        const r = rootPath.startsWith('shared:') ? root(rootPath.slice('shared:'.length)) : parseRoot(readFileSync(join(dir, rootPath)), rootPath);
        const a = await readKeyArchive(bytes, { name: 'keys.tgz' });
        const e = await assertAppError(() => findRoleSigner(a, r), expected.code as never);
        message = `${e.message} ${e.hint} ${views(a)} ${JSON.stringify(matchArchiveToRoot(a, r))}`;
        assertNoSecrets(message, secretsOf(a).filter((s) => /^[0-9a-f]{16,}$/i.test(s) || s.length >= 40));
      }
      assert.ok(!message.includes('SECRET-DO-NOT-SHOW'));
      assert.equal(sha(bytes), before, 'the bytes given are not modified');
      assert.equal(sha(new Uint8Array(readFileSync(path))), before, 'the file is not modified');
    });
  }

  it('lists the problem pairs with their status', async () => {
    const statuses = async (c: string): Promise<string[]> =>
      (await readKeyArchive(new Uint8Array(readFileSync(join(CORPUS_DIR, c, 'keys.tgz'))))).keys.map((k) => k.status);
    assert.deepEqual(await statuses('pub-without-sec'), ['missing-sec']);
    assert.deepEqual(await statuses('pair-mismatch'), ['mismatch']);
    assert.deepEqual(await statuses('pair-type-mismatch'), ['mismatch']);
    assert.deepEqual(await statuses('unknown-keytype'), ['unknown-type']);
    assert.deepEqual(await statuses('sec-invalid-hex'), ['unparseable']);
    assert.deepEqual(await statuses('sec-without-pub'), ['missing-pub']);
    assert.deepEqual(await statuses('empty-archive'), []);
  });

  it('zip bomb: refused once more than 64 MiB come out', async () => {
    const bomb = zipBomb();
    assert.ok(bomb.length < 200_000, 'small compressed');
    const before = sha(bomb);
    await assertAppError(() => readKeyArchive(bomb), 'ARCHIVE_TOO_LARGE');
    assert.equal(sha(bomb), before);
  });

  it('more than 2,000 entries: refused', async () => {
    const many = tooManyEntries();
    await assertAppError(() => readKeyArchive(many), 'ARCHIVE_TOO_MANY_ENTRIES');
    await readKeyArchive(many, { limits: { maxEntries: 2001 } });
  });

  it('no corpus case leaves files behind (nothing is extracted)', () => {
    assert.equal(existsSync('/etc/tuf-rotate-test'), false);
    assert.equal(existsSync(join(tmpdir(), 'tuf-rotate-test')), false);
  });
});
