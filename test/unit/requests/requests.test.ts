import assert from 'node:assert/strict';
import { createHash, constants, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { appendEvent, checkChain, eventHash, GENESIS, type RecordEvent } from '../../../server/requests/record.js';
import { PGP_EVEN, PGP_ODD, pgpWords } from '../../../server/requests/pgp-words.js';
import { buildRequest, checkRequest, type SigningRequest } from '../../../server/requests/request.js';
import { sasOf } from '../../../server/requests/sas.js';
import { acceptSignature, decodeRawSignature, pssSaltLength, signaturesFromDocument, tally } from '../../../server/requests/signatures.js';
import { isAppError } from '../../../server/errors.js';
import type { JsonObject } from '../../../server/tuf/json.js';
import type { PublicKeyInfo } from '../../../server/tuf/model.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'foundries');
const fixture = (name: string): Buffer => readFileSync(path.join(fixtures, name));
const now = new Date('2026-12-01T11:00:47Z');

describe('PGP words and the short authentication string', () => {
  it('holds 2 × 256 distinct words and encodes the published example', () => {
    assert.equal(PGP_EVEN.length, 256);
    assert.equal(PGP_ODD.length, 256);
    assert.equal(new Set([...PGP_EVEN, ...PGP_ODD].map((w) => w.toLowerCase())).size, 512);
    // Wikipedia "PGP word list": E582 94F2 E9A2 2748 6E8B 061B 31CC 528F D7FA 3F19.
    assert.equal(
      pgpWords(Buffer.from('E58294F2E9A227486E8B061B31CC528FD7FA3F19', 'hex')).join(' '),
      'topmost Istanbul Pluto vagabond treadmill Pacific brackish dictator goldfish Medusa afflict bravado chatter revolver Dupont midsummer stopwatch whimsical cowbell bottomless',
    );
  });

  it('takes the first 64 bits of the id: 8 words and 16 hex digits (ceremonies-research §A.4)', () => {
    const sas = sasOf('c0dbd9900bf614db5ec06633ff7b790e4877f3348363405c00e44d71a3336add');
    assert.deepEqual(sas.words, ['slowdown', 'suspicious', 'sugar', 'millionaire', 'alone', 'vocalist', 'baboon', 'suspicious']);
    assert.equal(sas.hex, 'c0db d990 0bf6 14db');
  });
});

/** The Foundries vectors: v1 trusted (CI and prod), v2 as the payloads, signed by the real fioctl signatures. */
function foundriesRequest(): { req: SigningRequest; v2: { signatures: JsonObject[] }; v2prod: { signatures: JsonObject[] } } {
  const v2 = JSON.parse(fixture('root-v2.json').toString()) as { signed: JsonObject; signatures: JsonObject[] };
  const v2prod = JSON.parse(fixture('root-v2.prod.json').toString()) as { signed: JsonObject; signatures: JsonObject[] };
  const req = buildRequest({
    dialect: 'foundries',
    target: { kind: 'factory', description: 'Foundries factory "demo"' },
    trusted: [
      { name: 'root.ci', bytes: fixture('root-v1.json') },
      { name: 'root.prod', bytes: fixture('root-v1.prod.json') },
    ],
    payloads: [
      { name: 'root.ci', trusted: 'root.ci', signed: v2.signed },
      { name: 'root.prod', trusted: 'root.prod', signed: v2prod.signed },
    ],
    owners: { '685c4168da58d08895b0a405856875302c70a53daaf2267bf6abbdc90fbfd814': 'admin-a' },
    now,
  });
  return { req, v2, v2prod };
}

describe('signing requests on the Foundries vectors', () => {
  it('binds both payloads in the device byte form; the id is the SHA-256 of the manifest', () => {
    const { req } = foundriesRequest();
    assert.equal(req.id, createHash('sha256').update(req.manifest).digest('hex'));
    assert.deepEqual(req.payloads.map((p) => [p.name, p.version, p.canonicalization]), [
      ['root.ci', 2, 'ota-tuf-jsoncpp'],
      ['root.prod', 2, 'ota-tuf-jsoncpp'],
    ]);
    assert.equal(req.keys['52f2adff0d110e0a48c0c3d87ae46bea838970796d10e5eddbdd40d1489062c7']?.algorithm, 'rsa-4096');
    assert.deepEqual(req.keys['685c4168da58d08895b0a405856875302c70a53daaf2267bf6abbdc90fbfd814']?.in, ['new']);
    assert.ok(req.summary.includes('root keys added: 685c4168 (ed25519, admin-a)'));
    assert.equal(req.expiresAt, '2026-12-08T11:00:47Z');
    checkRequest(req, { now });
  });

  it("accepts fioctl's real signatures over those bytes (both payloads), so the bytes are the device's", () => {
    const { req, v2, v2prod } = foundriesRequest();
    const checked = checkRequest(req, { now });
    const ci = signaturesFromDocument(checked, 'root.ci', v2.signatures);
    const prod = signaturesFromDocument(checked, 'root.prod', v2prod.signatures);
    assert.equal(ci.accepted.length + prod.accepted.length, 4);
    assert.equal(ci.skipped + prod.skipped, 0);
    const all = [...ci.accepted, ...prod.accepted].map((a) => ({ payload: a.payload, keyid: a.keyid, sig: '' }));
    assert.equal(tally(checked, all).complete, true);
    // The RSA signature's salt is recovered as 32.
    const rsa = ci.accepted.find((a) => a.keyid.startsWith('52f2adff'));
    assert.equal(rsa?.saltLength, 32);
    // The CI signature does not verify over the production bytes (they differ in the targets threshold).
    const ciEd = v2.signatures.find((s) => s['method'] === 'ed25519') as JsonObject;
    assert.throws(
      () => acceptSignature(checked, [], { payload: 'root.prod', keyid: String(ciEd['keyid']), raw: Buffer.from(String(ciEd['sig']), 'base64') }, 'test'),
      (e) => isAppError(e, 'SIGNATURE_INVALID'),
    );
    // A raw signature without a key ID or payload finds its place.
    const a = acceptSignature(checked, [], { raw: undefined, file: Buffer.from(String(ciEd['sig']), 'base64') }, 'test');
    assert.equal(a.payload, 'root.ci');
  });

  it('refuses a request whose requirements or keys were edited, even with the manifest recomputed', () => {
    const { req } = foundriesRequest();
    const edited = structuredClone(req);
    (edited.requirements[0]?.thresholds[0] as { threshold: number }).threshold = 0;
    assert.throws(() => checkRequest(edited, { now }), (e) => isAppError(e, 'REQUEST_TAMPERED'));
    const swapped = structuredClone(req);
    (swapped.trusted as unknown[]).reverse();
    // Same chain names, but the trusted roots moved: the hashes no longer line up with the manifest.
    assert.throws(() => checkRequest(swapped, { now }), (e) => isAppError(e, 'REQUEST_TAMPERED'));
  });
});

describe('raw signature files', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pub: PublicKeyInfo = { algorithm: 'rsa', spki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })), bits: 2048 };
  const data = Buffer.from('bytes to sign');
  const sig = (saltLength: number): Buffer => cryptoSign('sha256', data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });

  it('recovers the RSA-PSS salt length (32, 0, 222)', () => {
    assert.equal(pssSaltLength(pub, sig(32)), 32);
    assert.equal(pssSaltLength(pub, sig(0)), 0);
    assert.equal(pssSaltLength(pub, sig(222)), 222);
  });

  it('reads binary, base64 (with line breaks) and hex; refuses the wrong size', () => {
    const s = sig(32);
    assert.deepEqual(Buffer.from(decodeRawSignature(s, pub) ?? []), s);
    const b64 = s.toString('base64').replace(/(.{64})/g, '$1\n') + '\n';
    assert.deepEqual(Buffer.from(decodeRawSignature(Buffer.from(b64), pub) ?? []), s);
    assert.deepEqual(Buffer.from(decodeRawSignature(Buffer.from(s.toString('hex')), pub) ?? []), s);
    assert.equal(decodeRawSignature(s.subarray(0, 64), pub), undefined);
  });
});

describe('the event log', () => {
  it('links every event to the one before, and finds an edit, a removal and a reorder', () => {
    let events: RecordEvent[] = [];
    for (const what of ['request-written', 'signature-added', 'signature-added', 'published']) {
      events = appendEvent(events, { at: now, who: 'alice', what, data: { n: events.length } });
    }
    assert.equal(events[0]?.prev, GENESIS);
    assert.equal(checkChain(events), eventHash(events[3] as RecordEvent));
    const edited = structuredClone(events);
    (edited[1] as RecordEvent).data = { n: 9 };
    assert.throws(() => checkChain(edited), (e) => isAppError(e, 'RECORD_TAMPERED'));
    assert.throws(() => checkChain([events[0], events[2], events[3]] as RecordEvent[]), (e) => isAppError(e, 'RECORD_TAMPERED'));
    assert.throws(() => checkChain([events[1], events[0]] as RecordEvent[]), (e) => isAppError(e, 'RECORD_TAMPERED'));
  });
});
