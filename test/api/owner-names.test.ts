import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { readUserDirectory } from '../../server/backends/user-directory.js';
import { addPracticeUsers, createPracticeFactory } from '../../server/practice/create.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import { testApp, waitJob, type TestApp } from './helpers.js';

async function job(t: TestApp, url: string, body: unknown = {}): Promise<Awaited<ReturnType<typeof waitJob>>> {
  const res = await t.call('POST', url, body);
  assert.equal(res.statusCode, 202, res.body);
  return waitJob(t, res.json().jobId as string);
}

describe('key owners by name, from the Factory users (GET users/, users/self/)', () => {
  let tmp: string;
  const closers: (() => Promise<unknown>)[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-owner-names-'));
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('the practice factory lists its users with names; the page API shows owners by name, plan warning included', async () => {
    const dir = path.join(tmp, 'factory');
    const made = await createPracticeFactory(dir, { rootKeyType: 'ed25519' });
    assert.ok(made.archivePath);
    const admins = await addPracticeUsers(dir, ['admin-a', 'admin-b']);
    const app = await buildPracticeFactory(dir);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    closers.push(() => app.close());
    const token = (await fs.readFile(made.tokenFile, 'utf8')).trim();
    const owner = admins[0];
    assert.ok(owner);

    // The API itself: GET users/ answers every user, as fioctl `users` reads it.
    const res0 = await fetch(`${url}/ota/factories/${made.factory}/users/`, { headers: { 'OSF-TOKEN': token } });
    assert.equal(res0.status, 200);
    const list = (await res0.json()) as { 'polis-id': string; name: string; role: string }[];
    assert.deepEqual(list.map((u) => u.name), ['Practice Owner', 'admin-a', 'admin-b']);
    assert.deepEqual(list.map((u) => u['polis-id']), admins.map((a) => a.polisId));
    const anon = await fetch(`${url}/ota/factories/${made.factory}/users/`);
    assert.equal(anon.status, 401, 'the users list needs a token like every route');

    const client = new FoundriesClient({ apiUrl: url, factory: made.factory, token });
    const dirOf = await readUserDirectory(client);
    assert.equal(dirOf?.source, 'list');
    assert.equal(dirOf?.names.get(admins[1]?.polisId ?? ''), 'admin-a');

    // Through the page's API: plan a rotation; the single-owner warning names the owner.
    const workDir = path.join(tmp, 'work');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir });
    closers.push(() => t.app.close());
    let res = await t.call('POST', '/api/target', { kind: 'factory', factory: made.factory, apiUrl: url, token });
    assert.equal(res.statusCode, 200, res.body);
    res = await t.call('POST', '/api/archive', await fs.readFile(made.archivePath));
    assert.equal(res.statusCode, 200, res.body);
    const plan = await job(t, '/api/plan', { keyType: 'ed25519' });
    assert.equal(plan.status, 'done', JSON.stringify(plan));
    const p = plan.result as { plan: { plan: { warnings: { code: string; message: string }[] }; diff: { warnings: { code: string; message: string }[]; owners: { to?: { label?: string } }[] } } };
    const label = `Practice Owner (polis-id ${owner.polisId.slice(0, 8)})`;
    const single = p.plan.plan.warnings.filter((w) => w.code === 'SINGLE_HOLDER');
    assert.ok(single.length > 0 && single.every((w) => w.message.includes(`belongs to ${label}`) && !w.message.includes(owner.polisId)), JSON.stringify(single));
    assert.ok(p.plan.diff.warnings.filter((w) => w.code === 'SINGLE_HOLDER').every((w) => !w.message.includes(owner.polisId)));
    assert.ok(p.plan.diff.owners.some((o) => o.to?.label === label), JSON.stringify(p.plan.diff.owners));

    assert.equal((await job(t, '/api/sign')).status, 'done');
    assert.equal((await job(t, '/api/save')).status, 'done');
    const pub = await job(t, '/api/publish');
    assert.equal(pub.status, 'done', JSON.stringify(pub));

    // The current root (v2) now has an x-key-owners entry: shown by name.
    res = await t.call('GET', '/api/root');
    assert.equal(res.statusCode, 200, res.body);
    const root = res.json() as { version: number; keyOwners: { polisId?: string; name?: string; label?: string }[] };
    assert.equal(root.version, 2);
    assert.deepEqual(root.keyOwners.map((o) => [o.polisId, o.name, o.label]), [[owner.polisId, 'Practice Owner', label]]);

    // Several key changes (the change core): the plan's single-owner warning names the owner too, once.
    res = await t.call('POST', '/api/target', { kind: 'factory', factory: made.factory, apiUrl: url, token });
    assert.equal(res.statusCode, 200, res.body);
    const saved = (await t.call('GET', '/api/session')).json() as { recovery?: { validArchive?: string } };
    const archiveV2 = saved.recovery?.validArchive;
    assert.ok(archiveV2, JSON.stringify(saved.recovery));
    res = await t.call('POST', '/api/archive', await fs.readFile(archiveV2));
    assert.equal(res.statusCode, 200, res.body);
    const changes = await job(t, '/api/plan', { keyType: 'ed25519', changes: [{ kind: 'refresh-expiry' }] });
    assert.equal(changes.status, 'done', JSON.stringify(changes));
    const cp = changes.result as { plan: { plan: { warnings: { code: string; message: string }[] }; diff: { warnings: { code: string; message: string }[] } } };
    const all = [...cp.plan.plan.warnings, ...cp.plan.diff.warnings].filter((w) => w.code === 'SINGLE_HOLDER');
    assert.ok(all.length > 0 && all.every((w) => w.message.includes(`belongs to ${label}`)), JSON.stringify(all));
  });

  it('without a users list the caller is named from users/self/, everyone else is "not known to this Factory"', async () => {
    const me = '11111111-2222-4333-8444-555555555555';
    const calls: string[] = [];
    const fake = {
      usersList: async () => {
        calls.push('users/');
        return undefined;
      },
      self: async () => {
        calls.push('users/self/');
        return { polisId: me, name: 'Grace Hopper' };
      },
    } as unknown as FoundriesClient;
    const d = await readUserDirectory(fake);
    assert.deepEqual(calls, ['users/', 'users/self/']);
    assert.equal(d?.source, 'self');
    const { ownerName } = await import('../../server/tuf/owner-names.js');
    assert.equal(ownerName(me, d).label, 'Grace Hopper (polis-id 11111111)');
    assert.equal(ownerName('99999999-0000-4000-8000-000000000000', d).label, 'polis-id 99999999-0000-4000-8000-000000000000 (user not known to this Factory)');
    // users/self/ failing too: no directory, owners by polis-id (never a failed step).
    const none = await readUserDirectory({ usersList: async () => undefined, self: async () => { throw new Error('403'); } } as unknown as FoundriesClient);
    assert.equal(none, undefined);
  });
});
