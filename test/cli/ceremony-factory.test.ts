/**
 * A Factory ceremony reconciled from the Factory's own state (issue 9, scenario 2 from the work
 * folder's side): apply answers 503 after the CI root is published; `status WORK` says
 * partly-applied and names the new archive as the valid one; `publish WORK` re-runs apply until both
 * chains are published; `status` then says published. Against the practice factory over real HTTP.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { readKeyArchive } from '../../server/archive/read.js';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { verifyServed } from '../../server/backends/foundries.js';
import { verifyLog } from '../../server/ceremony/log.js';
import { CeremonyStore } from '../../server/ceremony/store.js';
import { heldKeysForRole, keyRingFromArchive } from '../../server/keyring.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import { cli } from '../helpers/cli.js';

interface Status {
  state: string;
  validArchive: string | null;
  version?: number;
  newVersion?: number;
  txid?: string;
  message: string;
}

describe('a Factory ceremony, reconciled from the Factory', () => {
  let tmp: string;
  const apps: FastifyInstance[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-ceremony-factory-'));
  });
  after(async () => {
    for (const a of apps) await a.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('a partial apply: status says partly-applied naming the new archive, publish WORKDIR re-applies, status says published', async () => {
    const dir = path.join(tmp, 'pf');
    const made = await cli(['practice', dir, '--dialect', 'foundries', '--key-type', 'ed25519', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const info = made.json() as { factory: string; archive: string; tokenFile: string };
    const app = await buildPracticeFactory(dir, { faults: { applyStatus: 503, applyOnce: true } });
    apps.push(app);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const target = ['--factory', info.factory, '--api-url', url, '--token-file', info.tokenFile];
    const work = path.join(tmp, 'work');
    const out = path.join(tmp, 'keys.v2.tgz');

    const r = await cli(['rotate', ...target, '--keys', info.archive, '--out', out, '--work', work, '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /partly applied|partial/i);

    let st = (await cli(['status', work, '--token-file', info.tokenFile, '--json'])).json() as unknown as Status;
    assert.equal(st.state, 'partly-applied', st.message);
    assert.equal(st.validArchive, out);
    assert.ok(!/No changes were made/i.test(st.message));
    // The archive named valid holds a key of the CI root the Factory now serves.
    const token = (await fs.readFile(info.tokenFile, 'utf8')).trim();
    const client = new FoundriesClient({ apiUrl: url, factory: info.factory, token });
    const ring = keyRingFromArchive(await readKeyArchive(await fs.readFile(out)), out);
    assert.ok(heldKeysForRole(ring, await client.currentRoot()).size > 0);

    const pub = await cli(['publish', work, '--token-file', info.tokenFile, '--yes', '--json']);
    assert.equal(pub.code, 0, pub.stderr);
    st = (await cli(['status', work, '--token-file', info.tokenFile, '--json'])).json() as unknown as Status;
    assert.equal(st.state, 'published', st.message);
    assert.equal(st.validArchive, out);
    assert.equal(st.version, 2);
    const served = await verifyServed(client, new Date());
    assert.ok(served.ci.ok && served.prod.ok, 'our verifier accepts both chains');
    const [c] = await new CeremonyStore(work).list();
    assert.ok(c && (await verifyLog(new CeremonyStore(work).dir(c.id))).ok);
  });
});
