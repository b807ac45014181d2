/**
 * The practice factory's §6 refusals as the command line shows them (issue #10: "the CLI shows the
 * refusal with its code and hint"): one case per kind of refusal path — init (409), PUT (409, 422,
 * 403), gen-online-keys (409), apply (422) — through `change --factory`,
 * `rotate --factory`, `sign --factory` and `cancel --factory`, in-process (the code the binary runs),
 * against a practice factory on loopback (real HTTP). Each: exit 1, the error code (--json), the
 * practice factory's rule text, and a hint. (APPLYING, rule 2, is refused by the CLI itself before any
 * request, as fioctl does; the API tests cover the factory's 423.)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { readKeyArchive } from '../../server/archive/read.js';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { addPracticeUsers, addPracticeWave } from '../../server/practice/create.js';
import { buildPracticeFactory, practiceControl } from '../../server/practice/factory-server.js';
import { embeddedPracticeFactory } from '../../server/serve.js';
import type { FoundriesBackend } from '../../server/backends/foundries.js';
import { cloneJson } from '../../server/tuf/json.js';
import type { JsonObject } from '../../server/tuf/json.js';
import { toDocument } from '../../server/tuf/metadata.js';
import { cli } from '../helpers/cli.js';
import type { CliRun } from '../helpers/cli.js';

const MAIN = new URL('../../dist/server/main.js', import.meta.url).pathname;

/** Stages the deletion of the offline targets key (unsigned) and returns the refusal. */
async function deleteOfflineTargetsKey(client: FoundriesClient): Promise<unknown> {
  await client.init({ message: 'Delete the offline targets key', firstTime: false, shortcut: false });
  const u = await client.updates();
  const online = u.current.onlineKeys.targets ?? '';
  const docs = [u.updated?.ciRoot, u.updated?.prodRoot].map((r) => {
    assert.ok(r);
    const signed = cloneJson(r.signedJson);
    const targets = (signed['roles'] as Record<string, JsonObject>)['targets'] as JsonObject;
    targets['keyids'] = (targets['keyids'] as string[]).filter((k) => k === online);
    return toDocument(signed, []);
  });
  try {
    await client.put({ txid: '', ciRoot: docs[0] ?? toDocument({}, []), prodRoot: docs[1] ?? toDocument({}, []) });
    return undefined;
  } catch (e) {
    return e;
  } finally {
    await client.cancel();
  }
}

/** A refusal printed by the CLI: exit 1, `--json` error with this code, the rule line, and a hint. */
function assertRefusal(r: CliRun, code: string, rule: RegExp, hint: RegExp): void {
  assert.equal(r.code, 1, r.stderr + r.stdout);
  const j = r.json() as { ok?: boolean; error?: { code: string; message: string; hint: string } };
  assert.equal(j.ok, false, r.stdout);
  assert.equal(j.error?.code, code, r.stdout);
  assert.match(j.error?.message ?? '', rule);
  assert.match(j.error?.hint ?? '', hint);
  // The same on stderr for a person: the rule text and the hint, on one line.
  assert.match(r.stderr, rule);
  assert.ok(r.stderr.includes((j.error?.hint ?? '\0').trim()), r.stderr);
}

describe('practice factory refusals through the CLI (code, rule text, hint, exit 1)', () => {
  let tmp: string;
  let app: FastifyInstance;
  let dir: string;
  let archive: string;
  let asA: string[];
  let owner: FoundriesClient;
  let bClient: FoundriesClient;
  let bPub: string;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-refusals-'));
    dir = path.join(tmp, 'f');
    const made = await cli(['practice', dir, '--dialect', 'foundries', '--key-type', 'ed25519', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const info = made.json() as { factory: string; archive: string; tokenFile: string };
    archive = info.archive;
    const users = await addPracticeUsers(dir, ['admin-b']);
    const tokenB = users.find((u) => u.name === 'admin-b')?.tokenFile ?? '';
    await addPracticeWave(dir, 'wave-1');
    // Strict waves: fioctl's help text (rule 32), so a targets-key rotation is refused too.
    app = await buildPracticeFactory(dir, { strictWaves: true });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    asA = ['--factory', info.factory, '--api-url', url, '--token-file', info.tokenFile];
    owner = new FoundriesClient({ apiUrl: url, factory: info.factory, token: (await fs.readFile(info.tokenFile, 'utf8')).trim() });
    bClient = new FoundriesClient({ apiUrl: url, factory: info.factory, token: (await fs.readFile(tokenB, 'utf8')).trim() });
    // Another admin's public root key (their archive stays with them).
    const other = await cli(['practice', path.join(tmp, 'b'), '--dialect', 'foundries', '--key-type', 'ed25519', '--name', 'bkeys', '--json']);
    const b = await readKeyArchive(await fs.readFile((other.json() as { archive: string }).archive));
    const pub = b.entries.find((e) => e.name.endsWith('.pub'));
    assert.ok(pub && pub.type === 'file');
    bPub = path.join(tmp, 'b-root.pub');
    await fs.writeFile(bPub, Buffer.from(pub.data));
  });
  after(async () => {
    await app.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  /** A work folder of its own for each case (a refused run's ceremony stays in its folder). */
  const work = (name: string): string => path.join(tmp, `work-${name}`);

  /** Ends a transaction a refused command left open (any admin may cancel). */
  async function cancelOpen(): Promise<void> {
    if ((await owner.updates()).status === 'STARTED') await owner.cancel();
  }

  it('PUT refused (409, rule 32 strict waves): change --rotate-key targets while a wave is active', async () => {
    const r = await cli(['change', ...asA, '--work', work('targets'), '--keys', archive, '--keys', path.join(dir, 'targets-keys.tgz'), '--out', path.join(tmp, 't.tgz'), '--rotate-key', 'targets', '--json']);
    assertRefusal(r, 'TARGET_CONFLICT', /rule 32: active wave "wave-1" blocks rotating or deleting the offline targets key/, /complete or cancel the wave/);
    await cancelOpen();
  });

  it('gen-online-keys refused (409, rule 32): change --rotate-online-keys while a wave is active', async () => {
    const r = await cli(['change', ...asA, '--work', work('online'), '--keys', archive, '--out', path.join(tmp, 'o.tgz'), '--rotate-online-keys', '--json']);
    assertRefusal(r, 'TARGET_CONFLICT', /rule 32: active wave "wave-1" blocks the online key rotation/, /then rotate the online keys/);
    await cancelOpen();
  });

  it('PUT refused (422, rule 21): change --add-key with another admin as owner', async () => {
    const r = await cli(['change', ...asA, '--work', work('owner'), '--keys', archive, '--add-key', 'root', '--key-file', bPub, '--owner', 'admin-b', '--json']);
    assertRefusal(r, 'TARGET_REFUSED', /rule 21: ci-root: the new key [0-9a-f]{8} must be owned by the user uploading it/, /adds it with their own API token/);
    await cancelOpen();
  });

  it('init refused (409, rule 1) and PUT refused (403, rule 4): change and sign --factory while another admin\'s transaction is open', async () => {
    await bClient.init({ message: 'B starts', firstTime: false, shortcut: false });
    try {
      const r = await cli(['change', ...asA, '--work', work('open'), '--keys', archive, '--refresh-expiry', '--json']);
      assertRefusal(r, 'TARGET_CONFLICT', /rule 1: a transaction is open \(status STARTED\)/, /Only one TUF root updates transaction/);
      const s = await cli(['sign', ...asA, '--keys', archive, '--json']);
      assertRefusal(s, 'TARGET_AUTH_FAILED', /rule 4: give the transaction ID/, /transaction ID \(--txid\)/);
    } finally {
      await bClient.cancel();
    }
  });

  it('apply refused (422, rule 31) by rotate --factory; cancel while applying (rule 2) by cancel --factory; publish finishes', async () => {
    const tags = path.join(dir, 'prod-targets.json');
    const saved = await fs.readFile(tags, 'utf8');
    // The production tag has lost its offline targets signature: no root change may be applied.
    const t = JSON.parse(saved) as { main: { signatures: unknown[] } };
    t.main.signatures = t.main.signatures.slice(0, 1);
    await fs.writeFile(tags, JSON.stringify(t));
    const out = path.join(tmp, 'r.tgz');
    const r = await cli(['rotate', ...asA, '--keys', archive, '--out', out, '--work', work('rotate'), '--json']);
    assertRefusal(r, 'TARGET_REFUSED', /rule 31: production tag "main" would have 1 valid targets signatures, 2 needed/, /sign the tags with an offline targets key/);
    assert.equal((await owner.updates()).status, 'STARTED', 'the signed transaction stays staged');

    // Tag signed again; a partial apply leaves APPLYING: cancel is refused (rule 2).
    await fs.writeFile(tags, saved);
    practiceControl(app).setFaults({ applyStatus: 503, applyOnce: true });
    const p = await cli(['publish', ...asA, '--yes', '--json']);
    assert.equal(p.code, 1, p.stderr + p.stdout);
    assert.equal((await owner.updates()).status, 'APPLYING');
    // The CLI reads the state first (as fioctl does) and refuses before the request: the code and hint are its own.
    const c = await cli(['cancel', ...asA, '--json']);
    assert.equal(c.code, 1, c.stderr);
    const err = (c.json() as { error: { code: string; message: string; hint: string } }).error;
    assert.equal(err.code, 'TARGET_CONFLICT');
    assert.match(err.message, /being applied and cannot be canceled/);
    assert.match(err.hint, /publish --factory/);
    const done = await cli(['publish', ...asA, '--yes', '--json']);
    assert.equal(done.code, 0, done.stderr + done.stdout);
    assert.equal((await owner.updates()).status, 'NONE');
    assert.equal((await owner.currentRoot(true)).version, 2);
  });
});

describe('the strict-waves switch: practice-factory --strict-waves and serve --practice-strict-waves', () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-strict-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('practice-factory DIR --strict-waves --wave wave-1 (built CLI): deleting the offline targets key is refused by rule 32', { skip: existsSync(MAIN) ? false : 'run npm run build first (npm test does)' }, async () => {
    const dir = path.join(tmp, 'spawned');
    const child = spawn(process.execPath, [MAIN, 'practice-factory', dir, '--strict-waves', '--wave', 'wave-1', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
        });
        child.on('error', reject);
        child.on('close', () => reject(new Error(`practice-factory exited: ${out}`)));
      });
      const info = JSON.parse(line) as { factory: string; apiUrl: string; tokenFile: string; strictWaves: boolean };
      assert.equal(info.strictWaves, true);
      const client = new FoundriesClient({ apiUrl: info.apiUrl, factory: info.factory, token: (await fs.readFile(info.tokenFile, 'utf8')).trim() });
      const e = await deleteOfflineTargetsKey(client);
      assert.ok(e instanceof Error && 'code' in e && e.code === 'TARGET_CONFLICT', String(e));
      assert.match(e.message, /rule 32: active wave "wave-1" blocks rotating or deleting the offline targets key/);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('the practice factory serve embeds takes the option (serve --practice-strict-waves); without it the same deletion fails on rule 17 only', async () => {
    for (const strict of [true, false]) {
      const dir = path.join(tmp, `embedded-${String(strict)}`);
      const made = await cli(['practice', dir, '--dialect', 'foundries', '--key-type', 'ed25519', '--json']);
      assert.equal(made.code, 0, made.stderr);
      await addPracticeWave(dir, 'wave-1');
      const embedded = embeddedPracticeFactory(dir, undefined, undefined, strict ? { strictWaves: true } : {});
      try {
        const backend = (await embedded.target()) as FoundriesBackend;
        const e = await deleteOfflineTargetsKey(backend.client);
        assert.ok(e instanceof Error, 'refused');
        if (strict) assert.match(e.message, /rule 32:/);
        else {
          assert.doesNotMatch(e.message, /rule 32/);
          assert.match(e.message, /rule 17: prod-root: role targets threshold 2 is not between 1 and its 1 keys/);
        }
      } finally {
        await embedded.close();
      }
    }
  });
});
