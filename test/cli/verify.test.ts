/**
 * `tuf-rotate verify` at the command line: `--at DATE` before and after an expiry (#13), the message
 * when a chain ends in an expired root, and whose rule each line is with the closing matrix in the
 * text output and in `--json` (#14).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, createHash, sign as cryptoSign } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { canonicalDevice } from '../../server/tuf/canonical-json.js';
import type { JsonObject } from '../../server/tuf/json.js';
import { FIXTURES } from '../helpers/assert-app-error.js';
import { cli } from '../helpers/cli.js';

const fx = (p: string): string => fileURLToPath(new URL(p, FIXTURES));
const SIGSTORE = Array.from({ length: 15 }, (_, i) => fx(`sigstore-root-chain/${i + 1}.root.json`));
/** Version 15 of the sigstore chain expires 2026-11-20 (test/fixtures/README.md). */
const NOW = new Date('2026-12-01T00:00:00Z');

describe('tuf-rotate verify --at and expired chains', () => {
  it('--at before the last root expires: the chain verifies, exit 0', async () => {
    const r = await cli(['verify', '--trusted', SIGSTORE[0] ?? '', ...SIGSTORE.slice(1), '--at', '2026-11-01'], { now: NOW });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Chain verified up to version 15 \(as of 2026-11-01T00:00:00\.000Z\)/);
    assert.match(r.stdout, /Verifiers: libaktualizr: not applicable \(a TUF specification root\) · Foundries API: not applicable \(a TUF specification root\) · tuf-js\/python-tuf: accepts · tough: refuses \(v11 key ID 7247f0db is not the hash of its key\)/);
  });

  it('--at after it expires (and now, without --at): every version verifies but the last one expired, exit 1', async () => {
    for (const extra of [['--at', '2026-11-21T00:00:00Z'], []]) {
      const r = await cli(['verify', '--trusted', SIGSTORE[0] ?? '', ...SIGSTORE.slice(1), ...extra], { now: NOW });
      assert.equal(r.code, 1, extra.join(' '));
      assert.match(r.stderr, /Every version verifies, but the last one \(version 15\) expired on 2026-11-20/);
      assert.match(r.stderr, /a client will refuse to go on until a newer root is published/);
      assert.match(r.stderr, /A root rotation, or an expiry refresh signed with the root keys, renews it/);
      assert.doesNotMatch(r.stderr + r.stdout, /broken/);
      assert.match(r.stdout, /tuf-js\/python-tuf: refuses \(version 15 expired on 2026-11-20\)/);
    }
  });

  it('--at with an offset, and --json says when, what expired and who refuses', async () => {
    const r = await cli(['verify', '--trusted', SIGSTORE[0] ?? '', ...SIGSTORE.slice(1), '--at', '2026-11-20T23:00:00+02:00', '--json'], { now: NOW });
    assert.equal(r.code, 1);
    const j = r.json();
    assert.equal(j.at, '2026-11-20T21:00:00.000Z');
    assert.equal((j.expired as { version: number }).version, 15);
    const matrix = j.matrix as { verifier: string; verdict: string; reasons: string[] }[];
    assert.deepEqual(matrix.map((m) => [m.verifier, m.verdict]), [
      ['libaktualizr', 'not-applicable'],
      ['foundries-api', 'not-applicable'],
      ['tuf-js/python-tuf', 'refuses'],
      ['tough', 'refuses'],
    ]);
    const steps = j.steps as { results: { sources: string[] }[] }[];
    assert.ok(steps.every((s) => s.results.every((x) => x.sources.length > 0)));
  });

  it('refuses a --at that is not an ISO date, exit 2', async () => {
    for (const at of ['tomorrow', '2027-02-30', '2027-01-31T12:00:00', '2027-13-01', '31.01.2027']) {
      const r = await cli(['verify', '--trusted', SIGSTORE[0] ?? '', SIGSTORE[1] ?? '', '--at', at], { now: NOW });
      assert.equal(r.code, 2, at);
      assert.match(r.stderr, /--at must be an ISO date/);
    }
  });
});

describe('tuf-rotate verify names whose rule each line is', () => {
  let tmp = '';
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'verify-cli-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  /** Writes a Foundries root signed by one Ed25519 key over the device's bytes. */
  const key = generateKeyPairSync('ed25519');
  const spki = key.publicKey.export({ format: 'der', type: 'spki' });
  const id = createHash('sha256').update(spki).digest('hex');
  async function write(name: string, version: number, keytype: string): Promise<string> {
    const role = { keyids: [id], threshold: 1 };
    const signed: JsonObject = {
      _type: 'Root',
      consistent_snapshot: false,
      expires: '2030-01-01T00:00:00Z',
      keys: { [id]: { keytype, keyval: { public: spki.subarray(12).toString('hex') } } },
      roles: { root: role, targets: role, snapshot: role, timestamp: role },
      version,
    };
    const sig = cryptoSign(null, canonicalDevice(signed), key.privateKey).toString('base64');
    const file = path.join(tmp, name);
    await fs.writeFile(file, JSON.stringify({ signatures: [{ keyid: id, method: 'ed25519', sig }], signed }));
    return file;
  }

  it('a lower-case keytype: devices accept, the Foundries API refuses — a warning in verify, exit 0', async () => {
    const v1 = await write('1.root.json', 1, 'ED25519');
    const v2 = await write('2.root.json', 2, 'ed25519');
    const r = await cli(['verify', '--trusted', v1, v2], { now: NOW });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\[warn\] v2 api-key-form \(Foundries API\): .*keytype "ed25519", the API wants "ED25519"/);
    assert.match(r.stdout, /\[ok {2}\] v2 key-types \(libaktualizr, Foundries API\)/);
    assert.match(r.stdout, /Verifiers: libaktualizr: accepts · Foundries API: refuses \([^)]*keytype "ed25519", the API wants "ED25519"\) · tuf-js\/python-tuf: not applicable \(a Foundries root\) · tough: not applicable \(a Foundries root\)/);
    const j = (await cli(['verify', '--trusted', v1, v2, '--json'], { now: NOW })).json();
    const matrix = j.matrix as { verifier: string; verdict: string }[];
    assert.deepEqual(matrix.map((m) => m.verdict), ['accepts', 'refuses', 'not-applicable', 'not-applicable']);
  });

  it('a Foundries root whose expires the device reads passes expires-format, naming libaktualizr', async () => {
    const v1 = fx('foundries/root-v1.json');
    const r = await cli(['verify', '--trusted', v1, fx('foundries/root-v2.json')], { now: NOW });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\[ok {2}\] v2 expires-format \(libaktualizr, Foundries API\)/);
    assert.match(r.stdout, /Verifiers: libaktualizr: accepts · Foundries API: accepts/);
  });
});
