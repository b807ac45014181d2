/** The page's signing-request routes: open (checked, tallied) and import (verified), stateless. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ImportReply, RequestView } from '../../shared/requests-api.js';
import { cli } from '../helpers/cli.js';
import { testApp, type TestApp } from './helpers.js';

describe('POST /api/request/open and /api/request/import', () => {
  let tmp: string;
  let t: TestApp;
  let request: Record<string, unknown>;
  let other: Record<string, unknown>;
  let rawSig: Buffer;
  let otherSigs: Buffer;
  let collected: Buffer;
  let held: { payload: string; keyid: string; sig: string }[];

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-api-req-'));
    const made = await cli(['practice', path.join(tmp, 'p'), '--dialect', 'spec', '--json']);
    const { target: repo, archive } = made.json() as { target: string; archive: string };
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    await fs.writeFile(path.join(tmp, 'n.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    await fs.writeFile(path.join(tmp, 'n.pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
    for (const [name, note] of [['REQ.json', 'first'], ['OTHER.json', 'second']] as const) {
      const r = await cli(['request', '--repo', repo, '--keys', archive, '--rotate-key', 'root', '--new-key', path.join(tmp, 'n.pub.pem'), '--out', path.join(tmp, name), '--owner', `${path.join(tmp, 'n.pub.pem')}=newbie`, '--note', note]);
      assert.equal(r.code, 3, r.stderr);
    }
    request = JSON.parse(await fs.readFile(path.join(tmp, 'REQ.json'), 'utf8')) as Record<string, unknown>;
    other = JSON.parse(await fs.readFile(path.join(tmp, 'OTHER.json'), 'utf8')) as Record<string, unknown>;
    execFileSync('openssl', ['pkeyutl', '-sign', '-rawin', '-inkey', path.join(tmp, 'n.pem'), '-in', path.join(tmp, 'REQ.root.v2.bin'), '-out', path.join(tmp, 'n.sig')]);
    rawSig = await fs.readFile(path.join(tmp, 'n.sig'));
    const s = await cli(['sign', path.join(tmp, 'OTHER.json'), '--keys', path.join(tmp, 'n.pem'), '--out', path.join(tmp, 'other-sigs.json')]);
    assert.equal(s.code, 0, s.stderr);
    otherSigs = await fs.readFile(path.join(tmp, 'other-sigs.json'));
    collected = await fs.readFile(path.join(tmp, 'REQ.sigs.json'));
    held = (JSON.parse(collected.toString()) as { signatures: { payload: string; keyid: string; sig: string }[] }).signatures.map(({ payload, keyid, sig }) => ({ payload, keyid, sig }));
    t = await testApp({ workDir: tmp });
  });
  after(async () => {
    await t.app.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('opens a request: SAS, summary, who signed and who still must, with the openssl command', async () => {
    const res = await t.call('POST', '/api/request/open', { request, signatures: held });
    assert.equal(res.statusCode, 200, res.body);
    const v = res.json() as RequestView;
    assert.equal(v.payloads[0]?.thresholds[0]?.met, true);
    assert.deepEqual(v.sas.words, (request['sas'] as { words: string[] }).words);
    assert.equal(v.complete, false);
    assert.equal(v.payloads[0]?.thresholds[1]?.holders[0]?.owner, 'newbie');
    assert.equal(v.missing[0]?.owner, 'newbie');
    assert.ok(v.missing[0]?.commands.some((c) => c.includes('openssl pkeyutl -sign -rawin') && c.includes('REQ.root.v2.bin')));
  });

  it("imports the coordinator's REQ.sigs.json and a raw openssl signature as base64 text; refuses the duplicate and a file for another request", async () => {
    const first = await t.call('POST', '/api/request/import', { request, signatures: [], file: collected.toString('base64'), name: 'REQ.sigs.json' });
    assert.equal(first.statusCode, 200, first.body);
    assert.equal((first.json() as ImportReply).added.length, 1);
    const res = await t.call('POST', '/api/request/import', { request, signatures: (first.json() as ImportReply).signatures, file: Buffer.from(rawSig.toString('base64') + '\n').toString('base64'), name: 'n.sig' });
    assert.equal(res.statusCode, 200, res.body);
    const r = res.json() as ImportReply;
    assert.equal(r.added.length, 1);
    assert.equal(r.view.complete, true);
    const dup = await t.call('POST', '/api/request/import', { request, signatures: r.signatures, file: rawSig.toString('base64'), name: 'n.sig' });
    assert.equal(dup.statusCode, 409);
    assert.equal(dup.json().error.code, 'SIGNATURE_DUPLICATE');
    const mismatch = await t.call('POST', '/api/request/import', { request, signatures: r.signatures, file: otherSigs.toString('base64'), name: 'other-sigs.json' });
    assert.equal(mismatch.statusCode, 409);
    assert.equal(mismatch.json().error.code, 'REQUEST_MISMATCH');
    assert.ok((mismatch.json().error.message as string).includes((other['sas'] as { words: string[] }).words.join(' ')));
  });

  it('refuses a tampered request, and a forged signature the page claims to hold', async () => {
    const tampered = { ...request, summary: ['all is well'] };
    const res = await t.call('POST', '/api/request/open', { request: tampered, signatures: [] });
    assert.equal(res.statusCode, 422);
    assert.equal(res.json().error.code, 'REQUEST_TAMPERED');
    const keyid = Object.keys(request['keys'] as object).find((id) => (request['keys'] as Record<string, { owner: string | null }>)[id]?.owner === 'newbie') ?? '';
    const forged = await t.call('POST', '/api/request/open', { request, signatures: [{ payload: 'root', keyid, sig: '00'.repeat(64) }] });
    assert.equal(forged.statusCode, 422);
    assert.equal(forged.json().error.code, 'SIGNATURE_INVALID');
  });
});
