/**
 * Several key holders: a standard repository whose root is 2 of 3 holders; holder A writes a
 * signing request (exit 3), holder B signs a copy in another folder with tuf-rotate, holder C signs
 * the same bytes with plain `openssl pkeyutl`, the coordinator imports both and publishes, and
 * tuf-js's Updater ends on the new version. Ed25519 and RSA. Plus every refusal, by code, and the
 * signed ceremony record.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Updater } from 'tuf-js';
import { loadKeyRing } from '../../server/keyring.js';
import { manifestOf, type SigningRequest } from '../../server/requests/request.js';
import { sasOf } from '../../server/requests/sas.js';
import { createHash } from 'node:crypto';
import type { JsonObject } from '../../server/tuf/json.js';
import { keyIdFor, newRootKeyJson } from '../../server/tuf/public-key.js';
import { parsePemPrivateKey } from '../../server/tuf/private-key.js';
import { parseRoot, serializeRoot, toDocument } from '../../server/tuf/metadata.js';
import { LocalSigner, signRoot } from '../../server/tuf/sign.js';
import { cli } from '../helpers/cli.js';
import { serveFolder } from '../helpers/static-server.js';

type KeyType = 'ed25519' | 'rsa';

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

function pem(type: KeyType): string {
  const { privateKey } =
    type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

function opensslSign(type: KeyType, key: string, input: string, out: string, salt32 = true): void {
  const args = ['pkeyutl', '-sign', '-rawin', '-inkey', key, '-in', input, '-out', out];
  if (type === 'rsa') {
    args.push('-digest', 'sha256', '-pkeyopt', 'rsa_padding_mode:pss', '-pkeyopt', 'rsa_mgf1_md:sha256');
    if (salt32) args.push('-pkeyopt', 'rsa_pss_saltlen:32');
  }
  execFileSync('openssl', args, { stdio: 'pipe' });
}

function errorCode(r: { stdout: string }): string | undefined {
  const last = r.stdout.trim().split('\n').pop() ?? '{}';
  return (JSON.parse(last) as { error?: { code?: string } }).error?.code;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

interface Setup {
  dir: string;
  repo: string;
  clientDir: string;
  keys: { A: string; B: string; C: string; N: string; X: string };
  ids: { A: string; B: string; C: string };
}

/** practice repo (v1, one root key) → v2 with root keys A, B, C and threshold 2, published; a client on v2. */
async function setup(tmp: string, type: KeyType): Promise<Setup> {
  const dir = path.join(tmp, type);
  const made = await cli(['practice', dir, '--dialect', 'spec', '--key-type', type, '--json']);
  assert.equal(made.code, 0, made.stderr);
  const { target: repo, archive } = made.json() as { target: string; archive: string };
  const clientDir = path.join(dir, 'client');
  await fs.mkdir(clientDir);
  await fs.copyFile(path.join(repo, 'metadata', '1.root.json'), path.join(clientDir, 'root.json'));

  const keyDir = path.join(dir, 'keys');
  await fs.mkdir(keyDir);
  const keys = { A: '', B: '', C: '', N: '', X: '' };
  for (const name of ['A', 'B', 'C', 'N', 'X'] as const) {
    keys[name] = path.join(keyDir, `${name}.pem`);
    await fs.writeFile(keys[name], pem(type), { mode: 0o600 });
  }
  const v1 = parseRoot(await fs.readFile(path.join(repo, 'metadata', 'root.json')));
  const signed = structuredClone(v1.signedJson);
  const oldRootId = v1.roles['root']?.keyids[0] ?? '';
  const held: Record<string, LocalSigner> = {};
  const ids = { A: '', B: '', C: '' };
  const sk = signed['keys'] as JsonObject;
  delete sk[oldRootId];
  for (const name of ['A', 'B', 'C'] as const) {
    const priv = parsePemPrivateKey(await fs.readFile(keys[name], 'utf8'));
    ids[name] = keyIdFor('spec', priv.publicKey);
    sk[ids[name]] = newRootKeyJson('spec', priv.publicKey);
    held[name] = new LocalSigner(priv);
  }
  (signed['roles'] as Record<string, JsonObject>)['root'] = { keyids: [ids.A, ids.B, ids.C], threshold: 2 };
  signed['version'] = 2;
  const ring = await loadKeyRing([archive]);
  const oldKey = ring.keys[0]?.key;
  assert.ok(oldKey);
  const sigs = await signRoot('spec', signed, [
    { keyid: oldRootId, signer: new LocalSigner(oldKey) },
    { keyid: ids.A, signer: held['A'] as LocalSigner },
    { keyid: ids.B, signer: held['B'] as LocalSigner },
  ]);
  const v2file = path.join(dir, 'v2.root.json');
  await fs.writeFile(v2file, serializeRoot(toDocument(signed, sigs)));
  const pub = await cli(['publish', '--root', v2file, '--repo', repo, '--json']);
  assert.equal(pub.code, 0, pub.stderr);
  assert.equal(await clientRootVersion(repo, clientDir), 2);
  return { dir, repo, clientDir, keys, ids };
}

/** Holder A writes the request: a rotation of A's root key to N. */
async function writeRequest(s: Setup, name: string, extra: string[] = []): Promise<{ file: string; req: SigningRequest; code: number; stdout: string }> {
  const folder = path.join(s.dir, name);
  await fs.mkdir(folder, { recursive: true });
  const file = path.join(folder, 'REQ.json');
  const r = await cli([
    'request', '--repo', s.repo, '--keys', s.keys.A, '--rotate-key', 'root', '--new-key', s.keys.N, '--out', file,
    '--owner', `${s.keys.A}=alice`, '--owner', `${s.keys.B}=bob`, '--owner', `${s.keys.C}=carol`, '--owner', `${s.keys.N}=alice-new`, '--who', 'alice', ...extra,
  ]);
  return { file, req: JSON.parse(await fs.readFile(file, 'utf8')) as SigningRequest, code: r.code, stdout: r.stdout + r.stderr };
}

for (const type of ['ed25519', 'rsa'] as const) {
  describe(`signing request, 2 of 3 holders, ${type}`, () => {
    let tmp: string;
    let s: Setup;
    let reqFile: string;
    let req: SigningRequest;
    let bobSigs: string;
    let carolSig: string;

    before(async () => {
      tmp = await fs.mkdtemp(path.join(os.tmpdir(), `tuf-rotate-req-${type}-`));
      s = await setup(tmp, type);
    });
    after(async () => {
      await fs.rm(tmp, { recursive: true, force: true });
    });

    it('holder A writes the request and stops with exit 3; status says who still signs, with the openssl command', async () => {
      const w = await writeRequest(s, 'alice');
      assert.equal(w.code, 3, w.stdout);
      reqFile = w.file;
      req = w.req;
      assert.equal(req.format, 'tuf-rotate/signing-request');
      assert.equal(req.id, sha256(req.manifest));
      assert.deepEqual(req.sas, sasOf(req.id));
      assert.equal(req.sas.words.length, 8);
      assert.match(w.stdout, new RegExp(req.sas.words.join('  ').slice(0, 20)));
      assert.equal(req.payloads[0]?.version, 3);
      assert.deepEqual(req.requirements[0]?.thresholds.map((t) => [t.source, t.threshold, t.keyids.length]), [['trusted', 2, 3], ['new', 2, 3]]);
      assert.equal(req.keys[s.ids.B]?.owner, 'bob');
      assert.ok(req.summary.some((l) => l.startsWith('root keys removed: ') && l.includes('alice')));
      // The .bin beside the request is exactly the bytes to sign.
      const bin = await fs.readFile(reqFile.replace(/\.json$/, '.root.v3.bin'));
      assert.equal(bin.toString('base64'), req.payloads[0]?.canonical);

      const st = await cli(['status', reqFile]);
      assert.equal(st.code, 3, st.stderr);
      assert.match(st.stdout, /old root v2: 1 of 2 \(alice \([0-9a-f]{8}\) ✓, bob \([0-9a-f]{8}\) …, carol \([0-9a-f]{8}\) …\)/);
      assert.match(st.stdout, /new root v3: 1 of 2 \(bob \([0-9a-f]{8}\) …, carol \([0-9a-f]{8}\) …, alice-new \([0-9a-f]{8}\) ✓\)/);
      assert.match(st.stdout, /openssl pkeyutl -sign -rawin .*-in REQ\.root\.v3\.bin/);
      if (type === 'rsa') assert.match(st.stdout, /rsa_pss_saltlen:32/);
      assert.ok(st.stdout.includes(req.sas.hex));
    });

    it('holder B signs a copy in another folder with tuf-rotate sign; holder C signs the bytes with openssl', async () => {
      const bobDir = path.join(s.dir, 'bob');
      await fs.mkdir(bobDir);
      await fs.copyFile(reqFile, path.join(bobDir, 'REQ.json'));
      bobSigs = path.join(bobDir, 'bob-sigs.json');
      const b = await cli(['sign', path.join(bobDir, 'REQ.json'), '--keys', s.keys.B, '--out', bobSigs, '--repo', s.repo]);
      assert.equal(b.code, 0, b.stderr);
      assert.ok(b.stdout.includes(req.sas.words.slice(0, 4).join('  ')), 'the SAS is shown');
      assert.match(b.stdout, /What changes in root/);
      assert.match(b.stdout, /role root: threshold 2 \(unchanged\)/);
      const file = JSON.parse(await fs.readFile(bobSigs, 'utf8')) as { format: string; request: string; signatures: { payload: string; keyid: string }[] };
      assert.equal(file.format, 'tuf-rotate/signatures');
      assert.equal(file.request, req.id);
      assert.deepEqual(file.signatures.map((x) => x.keyid), [s.ids.B]); // one payload; B is in both thresholds under one key ID

      const carolDir = path.join(s.dir, 'carol');
      await fs.mkdir(carolDir);
      const bin = path.join(carolDir, 'root.v3.bin');
      await fs.writeFile(bin, Buffer.from(req.payloads[0]?.canonical ?? '', 'base64'));
      carolSig = path.join(carolDir, 'carol.sig');
      opensslSign(type, s.keys.C, bin, carolSig);
    });

    it('refuses a tampered request: bytes, summary (even with manifest, id and SAS recomputed), trusted root; and an expired one', async () => {
      const evil = path.join(s.dir, 'evil');
      await fs.mkdir(evil, { recursive: true });
      const write = async (name: string, r: SigningRequest): Promise<string> => {
        const f = path.join(evil, name);
        await fs.writeFile(f, JSON.stringify(r));
        return f;
      };
      // Bytes: the signed object says one thing, the bytes another.
      const bytes = structuredClone(req);
      const p0 = bytes.payloads[0] as SigningRequest['payloads'][number];
      const other = structuredClone(p0.signed);
      other['expires'] = '2099-01-01T00:00:00Z';
      p0.canonical = Buffer.from(JSON.stringify(other)).toString('base64');
      let r = await cli(['sign', await write('bytes.json', bytes), '--keys', s.keys.B, '--json']);
      assert.equal(r.code, 1);
      assert.equal(errorCode(r), 'REQUEST_TAMPERED');

      // Summary, edited alone, and edited with manifest, id and SAS recomputed to match.
      const summary = structuredClone(req);
      summary.summary[1] = 'root keys removed: none';
      r = await cli(['sign', await write('summary.json', summary), '--keys', s.keys.B, '--json']);
      assert.equal(errorCode(r), 'REQUEST_TAMPERED');
      summary.manifest = manifestOf(summary);
      summary.id = sha256(summary.manifest);
      summary.sas = sasOf(summary.id);
      r = await cli(['sign', await write('summary2.json', summary), '--keys', s.keys.B, '--json']);
      assert.equal(r.code, 1);
      assert.equal(errorCode(r), 'REQUEST_TAMPERED');
      assert.match(r.stderr, /summary does not describe the change/);

      // Trusted root: other bytes than the hash says; and a consistent but different trusted root vs. the holder's own repository.
      const trusted = structuredClone(req);
      const t0 = trusted.trusted[0] as SigningRequest['trusted'][number];
      t0.bytes = Buffer.from(Buffer.from(t0.bytes, 'base64').toString('utf8').replace('"version": 2', '"version":2')).toString('base64');
      r = await cli(['sign', await write('trusted.json', trusted), '--keys', s.keys.B, '--json']);
      assert.equal(r.code, 1);
      assert.equal(errorCode(r), 'REQUEST_TAMPERED');
      r = await cli(['sign', reqFile, '--keys', s.keys.B, '--trusted', path.join(s.repo, 'metadata', '1.root.json'), '--json']);
      assert.equal(errorCode(r), 'REQUEST_TAMPERED');

      // Expired: eight days later.
      r = await cli(['sign', reqFile, '--keys', s.keys.B, '--json'], { now: new Date(Date.parse(req.expiresAt) + 1000) });
      assert.equal(r.code, 1);
      assert.equal(errorCode(r), 'REQUEST_EXPIRED');
      // Nothing was written by any refusal.
      assert.deepEqual((await fs.readdir(evil)).sort(), ['bytes.json', 'summary.json', 'summary2.json', 'trusted.json']);
    });

    it('refuses signatures: another request (naming both SAS), wrong key, a key not required, a salt other than 32', async () => {
      // A second request (another note: another id) signed by B, offered for the first.
      const other = await writeRequest(s, 'other', ['--note', 'superseded draft']);
      assert.equal(other.code, 3);
      assert.notEqual(other.req.id, req.id);
      const otherSigs = path.join(s.dir, 'other', 'bob-other.json');
      assert.equal((await cli(['sign', other.file, '--keys', s.keys.B, '--out', otherSigs])).code, 0);
      let r = await cli(['sign', reqFile, '--import', otherSigs, '--json']);
      assert.equal(r.code, 1);
      assert.equal(errorCode(r), 'REQUEST_MISMATCH');
      assert.ok(r.stderr.includes(other.req.sas.words.join(' ')) && r.stderr.includes(req.sas.words.join(' ')), r.stderr);

      // Wrong key: carol's signature offered as bob's.
      r = await cli(['sign', reqFile, '--import', carolSig, '--keyid', s.ids.B, '--json']);
      assert.equal(r.code, 1);
      assert.equal(errorCode(r), 'SIGNATURE_INVALID');

      // A key the request does not need, both on import and when signing; the message names the keys it needs.
      r = await cli(['sign', reqFile, '--import', carolSig, '--keyid', 'ab'.repeat(32), '--json']);
      assert.equal(errorCode(r), 'SIGNATURE_KEY_NOT_REQUIRED');
      assert.match(r.stderr, /bob \([0-9a-f]{8}\)/);
      r = await cli(['sign', reqFile, '--keys', s.keys.X, '--out', path.join(s.dir, 'x.json'), '--json']);
      assert.equal(r.code, 1);
      assert.equal(errorCode(r), 'SIGNATURE_KEY_NOT_REQUIRED');
      assert.match(r.stderr, /carol \([0-9a-f]{8}\)/);

      if (type === 'rsa') {
        const bad = path.join(s.dir, 'carol', 'carol-maxsalt.sig');
        opensslSign(type, s.keys.C, path.join(s.dir, 'carol', 'root.v3.bin'), bad, false);
        r = await cli(['sign', reqFile, '--import', bad, '--keyid', s.ids.C, '--json']);
        assert.equal(r.code, 1);
        assert.equal(errorCode(r), 'SIGNATURE_SALT');
        assert.match(r.stderr, /salt length 222/); // OpenSSL's maximum for RSA-2048 with SHA-256
        assert.match(r.stderr, /-pkeyopt rsa_pss_saltlen:32/);
      }
      const st = await cli(['status', reqFile, '--json']);
      assert.equal((st.json() as { complete: boolean }).complete, false, 'no refusal added anything');
    });

    it('the coordinator imports both, refuses a duplicate, and publishes; tuf-js ends on version 3; the record verifies', async () => {
      let r = await cli(['sign', reqFile, '--import', bobSigs, '--who', 'alice']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /old root v2: 2 of 2/);
      r = await cli(['sign', reqFile, '--import', bobSigs, '--json']);
      assert.equal(r.code, 1);
      assert.equal(errorCode(r), 'SIGNATURE_DUPLICATE');
      // Carol's raw openssl signature; the key ID prefix is enough.
      r = await cli(['sign', reqFile, '--import', carolSig, '--keyid', s.ids.C.slice(0, 12), '--who', 'alice']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /new root v3: 3 of 2/);
      const st = await cli(['status', reqFile]);
      assert.equal(st.code, 0, st.stdout);
      assert.match(st.stdout, /Every threshold is met/);

      const record = path.join(s.dir, 'RECORD.json');
      const p = await cli(['publish', reqFile, '--repo', s.repo, '--keys', s.keys.N, '--record', record, '--who', 'alice']);
      assert.equal(p.code, 0, p.stderr + p.stdout);
      assert.match(p.stdout, /Root version 3 published/);
      assert.equal(await clientRootVersion(s.repo, s.clientDir), 3);
      const v = await cli(['verify', '--trusted', path.join(s.repo, 'metadata', '1.root.json'), '--repo', s.repo, '--json']);
      assert.equal(v.code, 0, v.stderr);
      assert.equal((v.json() as { finalVersion: number }).finalVersion, 3);
      // No placeholder or unverified signature went into the published root.
      const published = JSON.parse(await fs.readFile(path.join(s.repo, 'metadata', '3.root.json'), 'utf8')) as { signatures: { keyid: string; sig: string }[] };
      assert.ok(published.signatures.every((x) => x.sig.length > 0));
      assert.equal(new Set(published.signatures.map((x) => x.keyid)).size, published.signatures.length);

      const rv = await cli(['record', 'verify', record, '--repo', s.repo, '--json']);
      assert.equal(rv.code, 0, rv.stderr);
      const check = rv.json() as { events: number; anchored: boolean; signedBy: string[] };
      assert.equal(check.anchored, true);
      assert.equal(check.signedBy.length, 1);
      const rec = JSON.parse(await fs.readFile(record, 'utf8')) as { signed: { events: { what: string; who: string; data: JsonObject }[] }; signatures: { sig: string }[] };
      const whats = rec.signed.events.map((e) => e.what);
      assert.equal(whats[0], 'request-written');
      assert.ok(whats.includes('signature-refused'), 'refusals are recorded');
      assert.equal(whats[whats.length - 1], 'published');

      // Tampering: an event edited, an event removed, the signature changed: each refused with exit 1.
      const tamper = async (name: string, edit: (x: typeof rec) => void): Promise<void> => {
        const copy = structuredClone(rec);
        edit(copy);
        const f = path.join(s.dir, name);
        await fs.writeFile(f, JSON.stringify(copy));
        const t = await cli(['record', 'verify', f, '--repo', s.repo, '--json']);
        assert.equal(t.code, 1, `${name}: ${t.stdout}`);
        assert.equal(errorCode(t), 'RECORD_TAMPERED', name);
      };
      await tamper('edited.json', (x) => {
        (x.signed.events[1] ?? { who: '' }).who = 'mallory';
      });
      await tamper('removed.json', (x) => {
        x.signed.events.splice(2, 1);
      });
      await tamper('removed-last.json', (x) => {
        x.signed.events.pop();
      });
      await tamper('signature.json', (x) => {
        const sig = Buffer.from(x.signatures[0]?.sig ?? '', 'base64');
        sig[5] = (sig[5] ?? 0) ^ 1;
        (x.signatures[0] as { sig: string }).sig = sig.toString('base64');
      });
    });

    it('--next: a partly signed next root made elsewhere keeps its valid signatures, drops a bad one; with the keys given it is complete (exit 0)', async () => {
      const v3 = parseRoot(await fs.readFile(path.join(s.repo, 'metadata', 'root.json')));
      const signed = structuredClone(v3.signedJson);
      signed['version'] = 4;
      const bPriv = parsePemPrivateKey(await fs.readFile(s.keys.B, 'utf8'));
      const [bSig] = await signRoot('spec', signed, [{ keyid: s.ids.B, signer: new LocalSigner(bPriv) }]);
      const next = path.join(s.dir, 'next-v4.json');
      await fs.writeFile(next, JSON.stringify({ signatures: [bSig, { keyid: s.ids.C, sig: 'ab'.repeat(32) }, { keyid: s.ids.A, sig: '' }], signed }));
      const folder = path.join(s.dir, 'v4');
      await fs.mkdir(folder);
      const file = path.join(folder, 'REQ.json');
      const r = await cli(['request', '--repo', s.repo, '--next', next, '--keys', s.keys.C, '--out', file]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /2 signature\(s\) in .* did not verify over these bytes and were dropped/);
      const collected = JSON.parse(await fs.readFile(path.join(folder, 'REQ.sigs.json'), 'utf8')) as { signatures: { keyid: string; from: string }[] };
      assert.deepEqual(collected.signatures.map((x) => x.keyid).sort(), [s.ids.B, s.ids.C].sort());
      const p = await cli(['publish', file, '--repo', s.repo]);
      assert.equal(p.code, 0, p.stderr + p.stdout);
      assert.match(p.stdout, /No ceremony record written/);
      assert.equal(await clientRootVersion(s.repo, s.clientDir), 4);
      // The same request again: the repository moved on.
      const again = await cli(['publish', file, '--repo', s.repo, '--json']);
      assert.equal(again.code, 1);
      assert.equal(errorCode(again), 'TARGET_CONFLICT');
    });
  });
}

describe('change --request: holder A proposes a change, B and C sign elsewhere, A publishes', () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-req-change-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('rotates A\'s root key through a request: exit 3, new key saved first, then tuf-js ends on version 3', async () => {
    const s = await setup(tmp, 'ed25519');
    const dirA = path.join(s.dir, 'alice');
    await fs.mkdir(dirA);
    const reqFile = path.join(dirA, 'REQ.json');
    const out = path.join(dirA, 'alice-new.tgz');
    const r = await cli(['change', '--repo', s.repo, '--keys', s.keys.A, '--out', out, '--rotate-key', 'root', '--request', reqFile, '--who', 'alice']);
    assert.equal(r.code, 3, r.stderr + r.stdout);
    assert.match(r.stdout, /New key archive saved/);
    assert.equal((await fs.stat(out)).mode & 0o777, 0o600);
    const req = JSON.parse(await fs.readFile(reqFile, 'utf8')) as SigningRequest;
    assert.equal(req.payloads[0]?.version, 3);

    const bob = path.join(s.dir, 'bob');
    await fs.mkdir(bob);
    await fs.copyFile(reqFile, path.join(bob, 'REQ.json'));
    assert.equal((await cli(['sign', path.join(bob, 'REQ.json'), '--keys', s.keys.B, '--out', path.join(bob, 'b.json')])).code, 0);
    opensslSign('ed25519', s.keys.C, reqFile.replace(/\.json$/, '.root.v3.bin'), path.join(s.dir, 'c.sig'));
    assert.equal((await cli(['sign', reqFile, '--import', path.join(bob, 'b.json')])).code, 0);
    assert.equal((await cli(['sign', reqFile, '--import', path.join(s.dir, 'c.sig')])).code, 0); // no --keyid: every required key is tried
    const p = await cli(['publish', reqFile, '--repo', s.repo, '--keys', out]);
    assert.equal(p.code, 0, p.stderr + p.stdout);
    assert.match(p.stdout, /Ceremony record signed/);
    assert.equal(await clientRootVersion(s.repo, s.clientDir), 3);
    assert.equal((await cli(['record', 'verify', reqFile.replace(/\.json$/, '.record.json'), '--repo', s.repo])).code, 0);
  });
});
