import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { Metadata, MetadataKind } from '@tufjs/models';
import forge from 'node-forge';
import { assertAppError } from '../../helpers/assert-app-error.js';
import { canonicalBytes, canonicalSpec } from '../../../server/tuf/canonical-json.js';
import type { JsonObject } from '../../../server/tuf/json.js';
import { archivePairFiles, parseArchiveSecret } from '../../../server/tuf/archive-keys.js';
import { generateKey, type PrivateKey } from '../../../server/tuf/private-key.js';
import { keyIdFor, newRootKeyJson, publicKeyOf, publicKeyString } from '../../../server/tuf/public-key.js';
import type { Dialect, KeyAlgorithm, PublicKeyInfo, RootSignature, Signer } from '../../../server/tuf/model.js';
import {
  LocalSigner,
  decodeSignature,
  signRoot,
  signatureMethod,
  verifySignature,
  verifySignatureFoundriesServer,
} from '../../../server/tuf/sign.js';
import { SIGSTORE_VERSIONS, fixtureJson, keysOf, readTgz, rootKeyOf } from './keys-fixtures.js';

const V2_ARCHIVE = readTgz('foundries/offline-keys.v2.tgz');
const GARAGE = readTgz('foundries/garage-sign/example.tgz');
const ED_ID = '685c4168da58d08895b0a405856875302c70a53daaf2267bf6abbdc90fbfd814';
const RSA_ID = '52f2adff0d110e0a48c0c3d87ae46bea838970796d10e5eddbdd40d1489062c7';

function archiveKey(files: Map<string, Buffer>, name: string): PrivateKey {
  const buf = files.get(name);
  assert.ok(buf, name);
  return parseArchiveSecret(JSON.parse(buf.toString('utf8')) as JsonObject);
}

const RSA4096 = archiveKey(V2_ARCHIVE, 'tufrepo/keys/first-root.sec'); // root-v1's root key
const ED25519 = archiveKey(V2_ARCHIVE, `tufrepo/keys/fioctl-root-${ED_ID}.sec`); // root-v2's root key
const RSA2048 = archiveKey(GARAGE, 'tufrepo/keys/offline-root.sec');

function sigEntry(json: JsonObject): RootSignature {
  return { keyid: json['keyid'] as string, sig: json['sig'] as string, method: json['method'] as string | undefined, json };
}

/**
 * Checks every non-empty signature of a document whose key is in its own `keys` (or in `previous`'s,
 * for a rotation's old key); returns how many verified.
 */
function verifyDocument(dialect: Dialect, doc: JsonObject, previous?: JsonObject): number {
  const signed = doc['signed'] as JsonObject;
  const keys = new Map([...(previous ? keysOf(previous) : []), ...keysOf(doc)]);
  const bytes = canonicalBytes(dialect, signed);
  let n = 0;
  for (const s of doc['signatures'] as JsonObject[]) {
    const entry = sigEntry(s);
    const key = keys.get(entry.keyid);
    if (key === undefined || entry.sig === '') continue;
    const raw = decodeSignature(dialect, entry);
    assert.ok(raw, `decodable signature ${entry.keyid}`);
    const pub = publicKeyOf(rootKeyOf(key));
    assert.ok(verifySignature(pub, bytes, raw), `signature by ${entry.keyid} verifies`);
    if (dialect === 'foundries') assert.equal(entry.method, signatureMethod(pub.algorithm));
    n++;
  }
  return n;
}

// --- independent implementations -------------------------------------------------------------

function forgeRsaVerify(pub: PublicKeyInfo, data: Uint8Array, sig: Uint8Array, saltLength: number): boolean {
  const key = forge.pki.publicKeyFromPem(publicKeyString(pub));
  const md = forge.md.sha256.create();
  md.update(Buffer.from(data).toString('binary'));
  const pss = forge.pss.create({ md: forge.md.sha256.create(), mgf: forge.mgf.mgf1.create(forge.md.sha256.create()), saltLength });
  try {
    return key.verify(md.digest().getBytes(), Buffer.from(sig).toString('binary'), pss);
  } catch {
    return false;
  }
}

function forgeRsaSign(priv: PrivateKey, data: Uint8Array, saltLength: number): Uint8Array {
  const sec = JSON.parse(Buffer.from(archivePairFiles(priv).sec).toString()) as { keyval: { private: string } };
  const key = forge.pki.privateKeyFromPem(sec.keyval.private);
  const md = forge.md.sha256.create();
  md.update(Buffer.from(data).toString('binary'));
  const pss = forge.pss.create({ md: forge.md.sha256.create(), mgf: forge.mgf.mgf1.create(forge.md.sha256.create()), saltLength });
  return new Uint8Array(Buffer.from(key.sign(md, pss), 'binary'));
}

function forgeEd25519Verify(pub: PublicKeyInfo, data: Uint8Array, sig: Uint8Array): boolean {
  const raw = Buffer.from(publicKeyString(pub), 'hex');
  return forge.pki.ed25519.verify({ message: Buffer.from(data), signature: Buffer.from(sig), publicKey: raw });
}

/** ECDSA DER `SEQUENCE { INTEGER r, INTEGER s }` → IEEE P1363 r‖s (what WebCrypto verifies). */
function derToP1363(der: Uint8Array): Uint8Array {
  assert.equal(der[0], 0x30);
  let off = 2;
  const ints: Buffer[] = [];
  for (let i = 0; i < 2; i++) {
    assert.equal(der[off], 0x02);
    const len = der[off + 1] ?? 0;
    let v = Buffer.from(der.subarray(off + 2, off + 2 + len));
    while (v.length > 32 && v[0] === 0) v = v.subarray(1);
    ints.push(Buffer.concat([Buffer.alloc(32 - v.length), v]));
    off += 2 + len;
  }
  return Buffer.concat(ints);
}

async function subtleEcdsaVerify(pub: PublicKeyInfo, data: Uint8Array, sig: Uint8Array): Promise<boolean> {
  const key = await webcrypto.subtle.importKey('spki', pub.spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  return webcrypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, derToP1363(sig), data);
}

async function independentlyVerifies(pub: PublicKeyInfo, data: Uint8Array, sig: Uint8Array): Promise<boolean> {
  switch (pub.algorithm) {
    case 'rsa':
      return forgeRsaVerify(pub, data, sig, 32);
    case 'ed25519':
      return forgeEd25519Verify(pub, data, sig);
    case 'ecdsa':
      return subtleEcdsaVerify(pub, data, sig);
  }
}

// ---------------------------------------------------------------------------------------------

describe('verifySignature on fixture roots', () => {
  it('verifies the Foundries roots (device canonical form, RSA-PSS and Ed25519)', () => {
    assert.equal(verifyDocument('foundries', fixtureJson('foundries/root-v1.json')), 1);
    assert.equal(verifyDocument('foundries', fixtureJson('foundries/root-v2.json')), 1); // the old RSA key is gone from v2's keys
    assert.equal(verifyDocument('foundries', fixtureJson('foundries/root-v1.prod.json')), 1);
    const prodV1 = fixtureJson('foundries/root-v1.prod.json');
    assert.equal(verifyDocument('foundries', fixtureJson('foundries/root-v2.prod.json'), prodV1), 2);
    const garageV1 = fixtureJson('foundries/garage-sign/root-v1.json');
    assert.equal(verifyDocument('foundries', garageV1), 1);
    assert.equal(verifyDocument('foundries', fixtureJson('foundries/garage-sign/root-v2.json'), garageV1), 2);
  });

  it("verifies root-v2's signature by the old RSA key against root-v1's copy of that key", () => {
    const v1 = new Map(keysOf(fixtureJson('foundries/root-v1.json')));
    const v2 = fixtureJson('foundries/root-v2.json');
    const oldKey = v1.get(RSA_ID);
    assert.ok(oldKey);
    const pub = publicKeyOf(rootKeyOf(oldKey));
    const entry = (v2['signatures'] as JsonObject[]).map(sigEntry).find((s) => s.keyid === RSA_ID);
    assert.ok(entry);
    const raw = decodeSignature('foundries', entry);
    assert.ok(raw);
    const bytes = canonicalBytes('foundries', v2['signed'] as JsonObject);
    assert.ok(verifySignature(pub, bytes, raw));
    assert.ok(verifySignatureFoundriesServer(pub, bytes, raw), 'signed with salt 32');
    assert.ok(forgeRsaVerify(pub, bytes, raw, 32), 'node-forge agrees');
  });

  it('verifies the go-tuf Ed25519 root and every sigstore root (ECDSA P-256, OLPC canonical JSON)', () => {
    assert.equal(verifyDocument('spec', fixtureJson('go-tuf-ed25519-root.v1.json')), 1);
    for (const v of SIGSTORE_VERSIONS) {
      const prev = v > 1 ? fixtureJson(`sigstore-root-chain/${v - 1}.root.json`) : undefined;
      const n = verifyDocument('spec', fixtureJson(`sigstore-root-chain/${v}.root.json`), prev);
      assert.ok(n >= 3, `version ${v}: ${n} own-key signatures`);
    }
  });

  it('returns false, never throws, on tampered data, wrong keys and malformed signatures', () => {
    const doc = fixtureJson('foundries/root-v1.json');
    const bytes = canonicalBytes('foundries', doc['signed'] as JsonObject);
    const raw = decodeSignature('foundries', sigEntry((doc['signatures'] as JsonObject[])[0] ?? {}));
    assert.ok(raw);
    const pub = RSA4096.publicKey;
    assert.ok(verifySignature(pub, bytes, raw));
    const tampered = Buffer.from(bytes);
    tampered[10] = (tampered[10] ?? 0) ^ 1;
    assert.equal(verifySignature(pub, tampered, raw), false);
    assert.equal(verifySignature(RSA2048.publicKey, bytes, raw), false);
    assert.equal(verifySignature(ED25519.publicKey, bytes, raw), false);
    for (const bad of [new Uint8Array(0), raw.subarray(1), new Uint8Array(600), new Uint8Array([1, 2, 3])]) {
      assert.equal(verifySignature(pub, bytes, bad), false);
      assert.equal(verifySignature(ED25519.publicKey, bytes, bad), false);
    }
    const brokenKey: PublicKeyInfo = { algorithm: 'ecdsa', spki: new Uint8Array([1, 2, 3]), bits: 256 };
    assert.equal(verifySignature(brokenKey, bytes, raw), false);
  });
});

describe('LocalSigner', () => {
  const data = new TextEncoder().encode('{"_type":"Root","version":2}');

  for (const alg of ['ed25519', 'ecdsa', 'rsa'] as const) {
    it(`signs with ${alg} so that we, the strict server check and an independent implementation verify`, async () => {
      const priv = alg === 'rsa' ? RSA4096 : await generateKey(alg);
      const signer = new LocalSigner(priv);
      assert.equal(signer.publicKey, priv.publicKey);
      const sig = await signer.sign(data);
      assert.ok(verifySignature(signer.publicKey, data, sig));
      assert.ok(verifySignatureFoundriesServer(signer.publicKey, data, sig));
      assert.ok(await independentlyVerifies(signer.publicKey, data, sig), 'node-forge / WebCrypto verify');
      assert.equal(verifySignature(signer.publicKey, data.subarray(1), sig), false);
      if (alg === 'ed25519') assert.equal(sig.length, 64);
      if (alg === 'rsa') assert.equal(sig.length, 512);
      if (alg === 'ecdsa') assert.equal(sig[0], 0x30, 'DER');
      assert.ok(!JSON.stringify(signer).includes('PRIVATE'));
      assert.ok(!inspect(signer, { showHidden: true, depth: 10 }).includes('PRIVATE'));
    });
  }

  it('signs Ed25519 exactly as node-forge does from the same seed (deterministic, RFC 8032)', async () => {
    const seedHex = (JSON.parse(Buffer.from(archivePairFiles(ED25519).sec).toString()) as { keyval: { private: string } })
      .keyval.private;
    const forgeKeys = forge.pki.ed25519.generateKeyPair({ seed: Buffer.from(seedHex, 'hex') });
    const expected = forge.pki.ed25519.sign({ message: Buffer.from(data), privateKey: forgeKeys.privateKey });
    assert.deepEqual(Buffer.from(await new LocalSigner(ED25519).sign(data)), Buffer.from(expected));
  });

  it('RSA-PSS: salt 20 (node-forge) passes the device check but not the strict server check', () => {
    const sig20 = forgeRsaSign(RSA2048, data, 20);
    assert.ok(verifySignature(RSA2048.publicKey, data, sig20));
    assert.equal(verifySignatureFoundriesServer(RSA2048.publicKey, data, sig20), false);
    const sig32 = forgeRsaSign(RSA2048, data, 32);
    assert.ok(verifySignatureFoundriesServer(RSA2048.publicKey, data, sig32));
  });

  it('uses salt 32: node-forge rejects our signature when told to expect salt 20', async () => {
    const sig = await new LocalSigner(RSA2048).sign(data);
    assert.ok(forgeRsaVerify(RSA2048.publicKey, data, sig, 32));
    assert.equal(forgeRsaVerify(RSA2048.publicKey, data, sig, 20), false);
  });
});

describe('signatureMethod and decodeSignature', () => {
  it('names the Foundries methods', () => {
    const cases: [KeyAlgorithm, string][] = [
      ['ed25519', 'ed25519'],
      ['rsa', 'rsassa-pss-sha256'],
      ['ecdsa', 'ecdsa-sha2-nistp256'],
    ];
    for (const [alg, method] of cases) assert.equal(signatureMethod(alg), method);
  });

  const entry = (sig: string): RootSignature => ({ keyid: 'k', sig, method: undefined, json: { keyid: 'k', sig } });

  it('decodes standard padded base64 for Foundries and refuses anything else', () => {
    assert.deepEqual(decodeSignature('foundries', entry('AQID')), new Uint8Array([1, 2, 3]));
    assert.deepEqual(decodeSignature('foundries', entry('AQI=')), new Uint8Array([1, 2]));
    assert.deepEqual(decodeSignature('foundries', entry('AQ==')), new Uint8Array([1]));
    assert.deepEqual(decodeSignature('foundries', entry('+/+/')), new Uint8Array([0xfb, 0xff, 0xbf]));
    for (const bad of ['', 'AQ', 'AQI', 'AQ=', '-_-_', 'AQ==AQ==', 'AQ I=', 'AQID\n', '====']) {
      assert.equal(decodeSignature('foundries', entry(bad)), undefined, JSON.stringify(bad));
    }
  });

  it('decodes hex (either case) for spec and refuses anything else', () => {
    assert.deepEqual(decodeSignature('spec', entry('0a0B')), new Uint8Array([10, 11]));
    for (const bad of ['', 'abc', 'zz', 'AQID', '0a 0b', '0x0a']) {
      assert.equal(decodeSignature('spec', entry(bad)), undefined, JSON.stringify(bad));
    }
  });
});

describe('signRoot', () => {
  it('reproduces the Ed25519 signature of root-v2 exactly (device form, base64, method)', async () => {
    const doc = fixtureJson('foundries/root-v2.json');
    const sigs = await signRoot('foundries', doc['signed'] as JsonObject, [{ keyid: ED_ID, signer: new LocalSigner(ED25519) }]);
    const expected = (doc['signatures'] as JsonObject[]).find((s) => s['keyid'] === ED_ID);
    assert.deepEqual(sigs, [expected]);
    assert.deepEqual(Object.keys(sigs[0] ?? {}), ['keyid', 'method', 'sig']);
  });

  it('signs a Foundries root with new then old key, in the order given, verifiable by the strict server check', async () => {
    const signed = fixtureJson('foundries/root-v2.json')['signed'] as JsonObject;
    const sigs = await signRoot('foundries', signed, [
      { keyid: ED_ID, signer: new LocalSigner(ED25519) },
      { keyid: RSA_ID, signer: new LocalSigner(RSA4096) },
    ]);
    assert.deepEqual(
      sigs.map((s) => [s['keyid'], s['method']]),
      [
        [ED_ID, 'ed25519'],
        [RSA_ID, 'rsassa-pss-sha256'],
      ],
    );
    const bytes = canonicalBytes('foundries', signed);
    const rsaSig = decodeSignature('foundries', sigEntry(sigs[1] ?? {}));
    assert.ok(rsaSig);
    assert.match(sigs[1]?.['sig'] as string, /^[A-Za-z0-9+/]+={0,2}$/);
    assert.ok(verifySignatureFoundriesServer(RSA4096.publicKey, bytes, rsaSig));
    assert.ok(forgeRsaVerify(RSA4096.publicKey, bytes, rsaSig, 32));
  });

  it('produces spec roots that tuf-js accepts, with one key of each algorithm', async () => {
    const doc = fixtureJson('go-tuf-ed25519-root.v1.json');
    const signed = structuredClone(doc['signed'] as JsonObject);
    const privs = [await generateKey('ed25519'), await generateKey('ecdsa'), RSA4096];
    const keys = signed['keys'] as JsonObject;
    const signers: { keyid: string; signer: Signer }[] = [];
    for (const priv of privs) {
      const keyid = keyIdFor('spec', priv.publicKey);
      keys[keyid] = newRootKeyJson('spec', priv.publicKey);
      signers.push({ keyid, signer: new LocalSigner(priv) });
    }
    const roles = signed['roles'] as JsonObject;
    roles['root'] = { keyids: signers.map((s) => s.keyid), threshold: 3 };
    const signatures = await signRoot('spec', signed, signers);
    for (const s of signatures) {
      assert.deepEqual(Object.keys(s), ['keyid', 'sig']);
      assert.match(s['sig'] as string, /^[0-9a-f]+$/);
    }
    // Our own check, over OLPC canonical JSON.
    const bytes = canonicalSpec(signed);
    signatures.forEach((s, i) => {
      const raw = decodeSignature('spec', sigEntry(s));
      assert.ok(raw && verifySignature(privs[i]?.publicKey as PublicKeyInfo, bytes, raw));
    });
    // tuf-js as the oracle: threshold 3 of the root role met by our three signatures.
    const md = Metadata.fromJSON(MetadataKind.Root, { signatures, signed } as never);
    md.verifyDelegate('root', md);
    // …and not met when one is dropped.
    const short = Metadata.fromJSON(MetadataKind.Root, { signatures: signatures.slice(1), signed } as never);
    assert.throws(() => short.verifyDelegate('root', short));
  });

  it('refuses a duplicate key ID among the signers (SIGNING_FAILED)', async () => {
    const signer = new LocalSigner(ED25519);
    await assertAppError(
      () => signRoot('foundries', { _type: 'Root' }, [
        { keyid: ED_ID, signer },
        { keyid: ED_ID, signer },
      ]),
      'SIGNING_FAILED',
    );
  });

  it('refuses an ECDSA signer for a Foundries root (the device rejects unknown methods)', async () => {
    const signer = new LocalSigner(await generateKey('ecdsa'));
    await assertAppError(() => signRoot('foundries', { _type: 'Root' }, [{ keyid: 'x', signer }]), 'KEY_TYPE_UNSUPPORTED');
  });

  it('refuses a signer whose signature does not verify, or that throws (SIGNING_FAILED)', async () => {
    const liar: Signer = { publicKey: ED25519.publicKey, sign: () => Promise.resolve(new Uint8Array(64)) };
    await assertAppError(() => signRoot('spec', { _type: 'root' }, [{ keyid: 'x', signer: liar }]), 'SIGNING_FAILED');
    const thrower: Signer = { publicKey: ED25519.publicKey, sign: () => Promise.reject(new Error('token unplugged')) };
    await assertAppError(() => signRoot('spec', { _type: 'root' }, [{ keyid: 'x', signer: thrower }]), 'SIGNING_FAILED');
  });

  it('refuses to sign what cannot be canonicalised', async () => {
    const signer = new LocalSigner(ED25519);
    await assertAppError(() => signRoot('spec', { version: 1.5 }, [{ keyid: 'x', signer }]), 'ROOT_NOT_CANONICALIZABLE');
  });
});
