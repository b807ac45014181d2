import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import forge from 'node-forge';
import { assertAppError } from '../../helpers/assert-app-error.js';
import type { JsonObject } from '../../../server/tuf/json.js';
import { archivePairFiles, parseArchiveSecret } from '../../../server/tuf/archive-keys.js';
import { generateKey, parsePemPrivateKey, privateKeyMatches, type PrivateKey } from '../../../server/tuf/private-key.js';
import { keyIdFor, keyIdFoundries, keyIdSpec, newRootKeyJson, publicKeyOf, publicKeyString, samePublicKey } from '../../../server/tuf/public-key.js';
import type { RootKey } from '../../../server/tuf/model.js';
import { SIGSTORE_VERSIONS, fixtureJson, keysOf, readTgz, rootKeyOf } from './keys-fixtures.js';

const V2_ARCHIVE = readTgz('foundries/offline-keys.v2.tgz');
const GARAGE = readTgz('foundries/garage-sign/example.tgz');
const FIOCTL_BASE = 'tufrepo/keys/fioctl-root-685c4168da58d08895b0a405856875302c70a53daaf2267bf6abbdc90fbfd814';

function archiveJson(files: Map<string, Buffer>, name: string): JsonObject {
  const buf = files.get(name);
  assert.ok(buf, `${name} in archive`);
  return JSON.parse(buf.toString('utf8')) as JsonObject;
}

function handKey(keytype: string, pub: string, scheme?: string): RootKey {
  const json: JsonObject = { keytype, keyval: { public: pub } };
  if (scheme !== undefined) json['scheme'] = scheme;
  return rootKeyOf(json);
}

/** Asserts nothing secret shows in any of the ways a value gets printed or serialised. */
function assertNoLeak(priv: PrivateKey, secrets: string[]): void {
  const outputs = [
    JSON.stringify(priv),
    JSON.stringify({ nested: { priv } }),
    inspect(priv),
    inspect(priv, { showHidden: true, depth: 10 }),
    inspect({ priv }, { showHidden: true, depth: 10 }),
    String(priv),
    `${priv}`,
    JSON.stringify(Object.assign({}, priv)),
  ];
  for (const out of outputs) {
    for (const s of secrets) assert.ok(!out.includes(s), `secret material leaked in: ${out.slice(0, 80)}`);
  }
  assert.equal(JSON.stringify(priv), `"[private key ${priv.algorithm}]"`);
  assert.equal(inspect(priv), `[private key ${priv.algorithm}]`);
  assert.deepEqual(Object.keys(priv).sort(), ['algorithm', 'publicKey']);
}

describe('publicKeyOf and keyIdFoundries', () => {
  for (const file of [
    'foundries/root-v1.json',
    'foundries/root-v2.json',
    'foundries/root-v1.prod.json',
    'foundries/garage-sign/root-v1.json',
    'foundries/garage-sign/root-v2.json',
  ]) {
    it(`reproduces every key ID of ${file} (sha256 of SPKI DER)`, () => {
      const keys = keysOf(fixtureJson(file));
      assert.ok(keys.length >= 4);
      for (const [id, json] of keys) {
        const pub = publicKeyOf(rootKeyOf(json));
        assert.equal(keyIdFoundries(pub), id);
      }
    });
  }

  it('decodes RSA-4096 and Ed25519 with the right sizes and writes keyval.public back byte for byte', () => {
    for (const [, json] of keysOf(fixtureJson('foundries/root-v1.json'))) {
      const key = rootKeyOf(json);
      const pub = publicKeyOf(key);
      assert.equal(pub.algorithm, key.keytype === 'RSA' ? 'rsa' : 'ed25519');
      assert.equal(pub.bits, key.keytype === 'RSA' ? 4096 : 256);
      assert.equal(publicKeyString(pub), key.public);
      assert.deepEqual(newRootKeyJson('foundries', pub), json);
    }
  });

  it('accepts a PKCS#1 "RSA PUBLIC KEY" PEM as the same key as its SPKI form', () => {
    const [, json] = keysOf(fixtureJson('foundries/root-v1.json')).find(([, k]) => k['keytype'] === 'RSA') ?? [];
    assert.ok(json);
    const spkiKey = publicKeyOf(rootKeyOf(json));
    const forgeKey = forge.pki.publicKeyFromPem(rootKeyOf(json).public);
    const pkcs1 = forge.pki.publicKeyToRSAPublicKeyPem(forgeKey); // CRLF line ends, as forge writes
    assert.ok(pkcs1.includes('BEGIN RSA PUBLIC KEY') && pkcs1.includes('\r\n'));
    const fromPkcs1 = publicKeyOf(handKey('rsa', pkcs1));
    assert.ok(samePublicKey(spkiKey, fromPkcs1));
    assert.equal(keyIdFoundries(fromPkcs1), keyIdFoundries(spkiKey));
  });

  it('refuses unknown key types and schemes with KEY_TYPE_UNSUPPORTED', async () => {
    await assertAppError(() => publicKeyOf(handKey('ECPRIME256V1', '04ab')), 'KEY_TYPE_UNSUPPORTED');
    await assertAppError(() => publicKeyOf(handKey('dsa', 'x')), 'KEY_TYPE_UNSUPPORTED');
    const ed = 'a'.repeat(64);
    await assertAppError(() => publicKeyOf(handKey('ed25519', ed, 'rsassa-pss-sha256')), 'KEY_TYPE_UNSUPPORTED');
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    await assertAppError(() => publicKeyOf(handKey('ecdsa', p384, 'ecdsa-sha2-nistp256')), 'KEY_TYPE_UNSUPPORTED');
    const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    await assertAppError(() => publicKeyOf(handKey('rsa', rsaPem, 'rsa-pkcs1v15-sha256')), 'KEY_TYPE_UNSUPPORTED');
  });

  it('refuses bad key material with KEY_INVALID', async () => {
    const ecPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const ed = generateKeyPairSync('ed25519');
    const edPrivPem = ed.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const rsaFixture = rootKeyOf(
      keysOf(fixtureJson('foundries/root-v1.json')).find(([, k]) => k['keytype'] === 'RSA')?.[1] ?? {},
    ).public;
    const cases: RootKey[] = [
      handKey('ED25519', 'abc'), // too short
      handKey('ED25519', 'g'.repeat(64)), // not hex
      handKey('ED25519', ''),
      handKey('RSA', 'not a pem'),
      handKey('RSA', ''),
      handKey('RSA', ecPem), // an EC key under keytype RSA
      handKey('RSA', edPrivPem), // a private key in the public slot
      handKey('RSA', rsaFixture.replace('MIIC', 'MII!')), // bad base64
      handKey('RSA', rsaFixture.replace('MIICIjAN', 'MIICIjAA')), // bad DER
      handKey('RSA', rsaFixture + rsaFixture), // two blocks
      handKey('ecdsa', 'zz', 'ecdsa-sha2-nistp256'),
      handKey('ecdsa', '04' + '00'.repeat(64), 'ecdsa-sha2-nistp256'), // not on the curve
      handKey('ecdsa', rsaFixture, 'ecdsa-sha2-nistp256'),
    ];
    for (const c of cases) {
      const err = await assertAppError(() => publicKeyOf(c), 'KEY_INVALID');
      assert.ok(!err.message.includes('MII'), 'no key material in the message');
    }
  });
});

describe('keyIdSpec', () => {
  it('reproduces every key ID of the go-tuf Ed25519 root', () => {
    const keys = keysOf(fixtureJson('go-tuf-ed25519-root.v1.json'));
    assert.equal(keys.length, 4);
    for (const [id, json] of keys) {
      assert.equal(keyIdSpec(json), id);
      assert.equal(publicKeyOf(rootKeyOf(json)).algorithm, 'ed25519');
    }
  });

  it('reproduces every key ID of the sigstore chain except 7247f0db… in version 11', () => {
    let checked = 0;
    const mismatches: string[] = [];
    for (const v of SIGSTORE_VERSIONS) {
      for (const [id, json] of keysOf(fixtureJson(`sigstore-root-chain/${v}.root.json`))) {
        assert.equal(publicKeyOf(rootKeyOf(json)).algorithm, 'ecdsa', `v${v} ${id}`);
        checked++;
        if (keyIdSpec(json) !== id) mismatches.push(`${v}:${id}`);
      }
    }
    assert.ok(checked > 60);
    assert.deepEqual(mismatches, ['11:7247f0dbad85b147e1863bade761243cc785dcb7aa410e7105dd3d2b61a36d2c']);
  });

  it('decodes the hex P-256 points of early sigstore roots and the PEM of later ones to the same keys', () => {
    // Keytype ecdsa-sha2-nistp256 → ecdsa at version 9 changed key IDs but not keys.
    const idsBySpki = new Map<string, Set<string>>();
    for (const v of SIGSTORE_VERSIONS) {
      for (const [id, json] of keysOf(fixtureJson(`sigstore-root-chain/${v}.root.json`))) {
        const spki = Buffer.from(publicKeyOf(rootKeyOf(json)).spki).toString('hex');
        idsBySpki.set(spki, (idsBySpki.get(spki) ?? new Set()).add(id));
      }
    }
    const renamed = [...idsBySpki.values()].filter((ids) => ids.size > 1);
    assert.ok(renamed.length >= 1, 'some key appears under two key IDs across the chain');
  });
});

describe('newRootKeyJson and keyIdFor', () => {
  it('writes a fioctl Ed25519 key exactly as the archive .pub holds it and gives its Foundries key ID', () => {
    const pubJson = archiveJson(V2_ARCHIVE, `${FIOCTL_BASE}.pub`);
    const pub = publicKeyOf(rootKeyOf(pubJson));
    assert.deepEqual(newRootKeyJson('foundries', pub), pubJson);
    assert.equal(keyIdFor('foundries', pub), '685c4168da58d08895b0a405856875302c70a53daaf2267bf6abbdc90fbfd814');
  });

  it('writes spec key objects with a scheme whose ID is the hash of the object', async () => {
    for (const alg of ['ed25519', 'ecdsa'] as const) {
      const pub = (await generateKey(alg)).publicKey;
      const json = newRootKeyJson('spec', pub);
      assert.deepEqual(Object.keys(json), ['keytype', 'scheme', 'keyval']);
      assert.equal(json['keytype'], alg);
      assert.equal(json['scheme'], alg === 'ed25519' ? 'ed25519' : 'ecdsa-sha2-nistp256');
      assert.equal(keyIdFor('spec', pub), keyIdSpec(json));
      assert.notEqual(keyIdFor('spec', pub), keyIdFor('foundries', pub));
      assert.ok(samePublicKey(publicKeyOf(rootKeyOf(json)), pub));
    }
  });

  it('refuses an ECDSA key for a Foundries root', async () => {
    const pub = (await generateKey('ecdsa')).publicKey;
    await assertAppError(() => newRootKeyJson('foundries', pub), 'KEY_TYPE_UNSUPPORTED');
  });
});

describe('parseArchiveSecret and archivePairFiles', () => {
  it('re-emits fioctl .pub/.sec files byte for byte (Ed25519 seed and RSA PKCS#1)', () => {
    for (const base of [FIOCTL_BASE, 'tufrepo/keys/first-root']) {
      const priv = parseArchiveSecret(archiveJson(V2_ARCHIVE, `${base}.sec`));
      const pair = archivePairFiles(priv);
      assert.ok(Buffer.from(pair.pub).equals(V2_ARCHIVE.get(`${base}.pub`) ?? Buffer.alloc(0)), `${base}.pub`);
      assert.ok(Buffer.from(pair.sec).equals(V2_ARCHIVE.get(`${base}.sec`) ?? Buffer.alloc(0)), `${base}.sec`);
    }
  });

  it('finds the root keys of root-v1 and root-v2 in the v2 archive', () => {
    const rsa = parseArchiveSecret(archiveJson(V2_ARCHIVE, 'tufrepo/keys/first-root.sec'));
    const ed = parseArchiveSecret(archiveJson(V2_ARCHIVE, `${FIOCTL_BASE}.sec`));
    assert.equal(rsa.algorithm, 'rsa');
    assert.equal(rsa.publicKey.bits, 4096);
    assert.equal(ed.algorithm, 'ed25519');
    const v1 = new Map(keysOf(fixtureJson('foundries/root-v1.json')));
    const v2 = new Map(keysOf(fixtureJson('foundries/root-v2.json')));
    const oldRoot = v1.get('52f2adff0d110e0a48c0c3d87ae46bea838970796d10e5eddbdd40d1489062c7');
    const newRoot = v2.get('685c4168da58d08895b0a405856875302c70a53daaf2267bf6abbdc90fbfd814');
    assert.ok(oldRoot && newRoot);
    assert.ok(privateKeyMatches(rsa, publicKeyOf(rootKeyOf(oldRoot))));
    assert.ok(privateKeyMatches(ed, publicKeyOf(rootKeyOf(newRoot))));
    assert.ok(!privateKeyMatches(ed, publicKeyOf(rootKeyOf(oldRoot))));
  });

  it('reads garage-sign pretty JSON: RSA-2048 PKCS#1 and 128-hex Ed25519 (seed ‖ public)', () => {
    let n = 0;
    for (const [name] of GARAGE) {
      if (!name.endsWith('.sec')) continue;
      const priv = parseArchiveSecret(archiveJson(GARAGE, name));
      const pub = publicKeyOf(rootKeyOf(archiveJson(GARAGE, name.replace(/\.sec$/, '.pub'))));
      assert.ok(privateKeyMatches(priv, pub), name);
      n++;
    }
    assert.equal(n, 4);
    const sec = archiveJson(GARAGE, 'tufrepo/keys/offline-targets.sec');
    const hex = (sec['keyval'] as JsonObject)['private'] as string;
    assert.equal(hex.length, 128);
    // fioctl ≥ v0.30 writes the 32-byte seed only.
    const pair = JSON.parse(Buffer.from(archivePairFiles(parseArchiveSecret(sec)).sec).toString()) as JsonObject;
    assert.deepEqual(pair, { keytype: 'ED25519', keyval: { private: hex.slice(0, 64) } });
  });

  it('refuses a 128-hex Ed25519 key whose public half does not match its seed (KEY_MISMATCH)', async () => {
    const sec = archiveJson(GARAGE, 'tufrepo/keys/offline-targets.sec');
    const hex = (sec['keyval'] as JsonObject)['private'] as string;
    const other = (archiveJson(V2_ARCHIVE, `${FIOCTL_BASE}.pub`)['keyval'] as JsonObject)['public'] as string;
    const bad = { keytype: 'ED25519', keyval: { private: hex.slice(0, 64) + other } };
    const err = await assertAppError(() => parseArchiveSecret(bad), 'KEY_MISMATCH');
    assert.ok(!err.message.includes(hex.slice(0, 16)));
  });

  it('accepts CRLF in an RSA PKCS#1 PEM (as node-forge writes)', () => {
    const sec = archiveJson(V2_ARCHIVE, 'tufrepo/keys/first-root.sec');
    const pem = (sec['keyval'] as JsonObject)['private'] as string;
    const crlf = parseArchiveSecret({ keytype: 'RSA', keyval: { private: pem.replace(/\n/g, '\r\n') } });
    const lf = parseArchiveSecret(sec);
    assert.ok(samePublicKey(crlf.publicKey, lf.publicKey));
    assert.ok(Buffer.from(archivePairFiles(crlf).sec).equals(V2_ARCHIVE.get('tufrepo/keys/first-root.sec') ?? Buffer.alloc(0)));
  });

  it('refuses malformed, mistyped and damaged secrets', async () => {
    const rsaSec = archiveJson(V2_ARCHIVE, 'tufrepo/keys/first-root.sec');
    const rsaPem = (rsaSec['keyval'] as JsonObject)['private'] as string;
    const seed = (archiveJson(V2_ARCHIVE, `${FIOCTL_BASE}.sec`)['keyval'] as JsonObject)['private'] as string;
    // Flip one character in n, d, p/q and the CRT values in turn: each is still DER, none a working
    // key. (OpenSSL signs with the CRT values and falls back to d, so a sign probe alone misses these.)
    const damaged = [5, 15, 30, 45].map((i) => {
      const lines = rsaPem.split('\n');
      const line = lines[i] ?? '';
      lines[i] = line.slice(0, 10) + (line[10] === 'A' ? 'B' : 'A') + line.slice(11);
      return lines.join('\n');
    });
    const invalid: JsonObject[] = [
      {},
      { keytype: 'ED25519' },
      { keytype: 'ED25519', keyval: { public: seed } },
      { keytype: 'ED25519', keyval: { private: seed.slice(2) } },
      { keytype: 'ED25519', keyval: { private: 'x'.repeat(64) } },
      { keytype: 'RSA', keyval: { private: 'garbage' } },
      ...damaged.map((pem) => ({ keytype: 'RSA', keyval: { private: pem } })),
      { keytype: 'RSA', keyval: { private: generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() } },
    ];
    for (const sec of invalid) {
      const err = await assertAppError(() => parseArchiveSecret(sec), 'KEY_INVALID');
      assert.ok(!err.message.includes(seed.slice(0, 16)) && !err.message.includes('MII'), 'no key bytes in message');
    }
    await assertAppError(() => parseArchiveSecret({ keytype: 'ECPRIME256V1', keyval: { private: seed } }), 'KEY_TYPE_UNSUPPORTED');
  });
});

describe('generateKey', () => {
  it('generates RSA 4096 (e = 65537) and writes fioctl-shaped PKCS#1 files that read back', async () => {
    const priv = await generateKey('rsa');
    assert.equal(priv.algorithm, 'rsa');
    assert.equal(priv.publicKey.bits, 4096);
    const pubPem = publicKeyString(priv.publicKey);
    assert.equal(forge.pki.publicKeyFromPem(pubPem).e.toString(10), '65537');
    const pair = archivePairFiles(priv);
    const sec = JSON.parse(Buffer.from(pair.sec).toString()) as JsonObject;
    const pub = JSON.parse(Buffer.from(pair.pub).toString()) as JsonObject;
    assert.deepEqual(Object.keys(sec), ['keytype', 'keyval']);
    assert.equal(sec['keytype'], 'RSA');
    const pem = (sec['keyval'] as JsonObject)['private'] as string;
    assert.match(pem, /^-----BEGIN RSA PRIVATE KEY-----\n([A-Za-z0-9+/=]{64}\n)+[A-Za-z0-9+/=]{1,64}\n-----END RSA PRIVATE KEY-----\n$/);
    assert.ok(!Buffer.from(pair.sec).includes('\r'));
    assert.ok(Buffer.from(pair.pub).equals(Buffer.from(JSON.stringify(pub))), 'compact JSON');
    const back = parseArchiveSecret(sec);
    assert.ok(privateKeyMatches(back, publicKeyOf(rootKeyOf(pub))));
    assertNoLeak(priv, [pem.split('\n')[1] ?? 'x', pem.split('\n')[10] ?? 'x']);
  });

  it('generates Ed25519 and P-256 keys that round-trip through their archive form', async () => {
    const ed = await generateKey('ed25519');
    const edPair = archivePairFiles(ed);
    const edSec = JSON.parse(Buffer.from(edPair.sec).toString()) as JsonObject;
    const seed = (edSec['keyval'] as JsonObject)['private'] as string;
    assert.match(seed, /^[0-9a-f]{64}$/);
    assert.match(Buffer.from(edPair.pub).toString(), /^\{"keytype":"ED25519","keyval":\{"public":"[0-9a-f]{64}"\}\}$/);
    assert.ok(privateKeyMatches(parseArchiveSecret(edSec), ed.publicKey));
    assertNoLeak(ed, [seed, Buffer.from(seed, 'hex').toString('base64').slice(0, 20)]);

    const ec = await generateKey('ecdsa');
    assert.equal(ec.publicKey.bits, 256);
    const ecSec = JSON.parse(Buffer.from(archivePairFiles(ec).sec).toString()) as JsonObject;
    assert.equal(ecSec['keytype'], 'ecdsa');
    const ecPem = (ecSec['keyval'] as JsonObject)['private'] as string;
    assert.ok(ecPem.startsWith('-----BEGIN EC PRIVATE KEY-----\n'));
    assert.ok(privateKeyMatches(parsePemPrivateKey(ecPem), ec.publicKey));
    assertNoLeak(ec, [ecPem.split('\n')[1] ?? 'x']);
  });
});

describe('parsePemPrivateKey', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519');

  it('reads PKCS#8, PKCS#1 and SEC1 PEM (LF and CRLF) to the right algorithm and public key', () => {
    const cases = [
      { pem: rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), pub: rsa.publicKey, alg: 'rsa' },
      { pem: rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }).toString(), pub: rsa.publicKey, alg: 'rsa' },
      { pem: ec.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), pub: ec.publicKey, alg: 'ecdsa' },
      { pem: ec.privateKey.export({ format: 'pem', type: 'sec1' }).toString(), pub: ec.publicKey, alg: 'ecdsa' },
      { pem: ed.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), pub: ed.publicKey, alg: 'ed25519' },
    ];
    for (const c of cases) {
      const spki = new Uint8Array(c.pub.export({ format: 'der', type: 'spki' }));
      for (const text of [c.pem, c.pem.replace(/\n/g, '\r\n'), `Bag Attributes\n  friendlyName: x\n${c.pem}`]) {
        const priv = parsePemPrivateKey(text);
        assert.equal(priv.algorithm, c.alg);
        assert.deepEqual(priv.publicKey.spki, spki);
        assert.deepEqual(JSON.parse(JSON.stringify(priv)), `[private key ${c.alg}]`);
      }
      assertNoLeak(parsePemPrivateKey(c.pem), [c.pem.split('\n')[1] ?? 'x']);
      // toPem() is the one explicit way out: PKCS#8, and it reads back to the same key.
      const out = parsePemPrivateKey(c.pem).toPem();
      assert.match(out, /^-----BEGIN PRIVATE KEY-----\n([A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END PRIVATE KEY-----\n$/);
      assert.deepEqual(parsePemPrivateKey(out).publicKey.spki, spki);
    }
  });

  it('refuses encrypted, absent, multiple and unsupported keys', async () => {
    const encrypted = rsa.privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString();
    await assertAppError(() => parsePemPrivateKey(encrypted), 'KEY_INVALID');
    const legacyEncrypted = rsa.privateKey.export({ format: 'pem', type: 'pkcs1', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString();
    assert.ok(legacyEncrypted.includes('Proc-Type: 4,ENCRYPTED'));
    await assertAppError(() => parsePemPrivateKey(legacyEncrypted), 'KEY_INVALID');
    await assertAppError(() => parsePemPrivateKey(''), 'KEY_INVALID');
    await assertAppError(() => parsePemPrivateKey(rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString()), 'KEY_INVALID');
    const ecPem = ec.privateKey.export({ format: 'pem', type: 'sec1' }).toString();
    await assertAppError(() => parsePemPrivateKey(ecPem + ecPem), 'KEY_INVALID');
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    await assertAppError(() => parsePemPrivateKey(p384), 'KEY_TYPE_UNSUPPORTED');
    const ed448 = generateKeyPairSync('ed448').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    await assertAppError(() => parsePemPrivateKey(ed448), 'KEY_TYPE_UNSUPPORTED');
    await assertAppError(
      () => parsePemPrivateKey('-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n'),
      'KEY_TYPE_UNSUPPORTED',
    );
  });
});
