/**
 * Expiry through the JSON API: GET /api/root/expiry.ics for a repository and for the practice
 * factory (CI and production roots), and the expired-root override of POST /api/plan, refused without
 * a reason and kept in the record and the journal with one.
 */
import assert from 'node:assert/strict';
import { CeremonyStore } from '../../server/ceremony/store.js';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import ICAL from 'ical.js';
import { FoundriesBackend } from '../../server/backends/foundries.js';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { LocalRepoBackend } from '../../server/backends/local-repo.js';
import { createPracticeFactory } from '../../server/practice/create.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import { createSpecPractice } from '../../server/practice/spec-repo.js';
import { testApp, waitJob } from './helpers.js';

const DAY = 86_400_000;
const YEAR = 365 * DAY;
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);

function events(ics: string): ICAL.Event[] {
  return new ICAL.Component(ICAL.parse(ics)).getAllSubcomponents('vevent').map((v) => new ICAL.Event(v));
}

describe('expiry through the API', () => {
  let tmp: string;
  const cleanups: (() => Promise<void>)[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-api-expiry-'));
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('GET /api/root/expiry.ics: a calendar of the root expiry (repository) and of both chains (practice factory)', async () => {
    const made = await createSpecPractice(path.join(tmp, 'repo'), { now: new Date(NOW.getTime() - YEAR + 20 * DAY) });
    const t = await testApp({ workDir: tmp, target: new LocalRepoBackend(made.repo), now: () => NOW });
    cleanups.push(() => t.app.close());
    let res = await t.call('GET', '/api/root/expiry.ics');
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /^text\/calendar/);
    assert.match(String(res.headers['content-disposition']), /attachment; filename="tuf-root-expiry\.ics"/);
    const [ev] = events(res.body);
    assert.ok(ev);
    const expires = new Date(NOW.getTime() + 20 * DAY);
    assert.deepEqual([ev.startDate.year, ev.startDate.month, ev.startDate.day], [expires.getUTCFullYear(), expires.getUTCMonth() + 1, expires.getUTCDate()]);
    assert.match(ev.description, new RegExp(`local TUF repository ${made.repo.replace(/[/.]/g, '\\$&')}`));
    assert.equal((await t.call('GET', '/api/root')).json().expiresInDays, 20);

    const info = await createPracticeFactory(path.join(tmp, 'factory'), { rootKeyType: 'ed25519' });
    const practice = await buildPracticeFactory(info.dir);
    const url = await practice.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => practice.close());
    const token = (await fs.readFile(info.tokenFile, 'utf8')).trim();
    const factory = new FoundriesBackend(new FoundriesClient({ apiUrl: url, factory: info.factory, token }), { practice: true });
    const f = await testApp({ workDir: tmp, target: factory, now: () => NOW });
    cleanups.push(() => f.app.close());
    res = await f.call('GET', '/api/root/expiry.ics');
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(events(res.body).map((e) => e.summary.replace(/ of .*/, '')), ['TUF root (CI) v1', 'TUF root (production) v1']);
    assert.ok(!res.body.includes(token), 'the token is not in the file');

    // No target yet: a coded error, not an empty calendar.
    const none = await testApp({ workDir: tmp, now: () => NOW });
    cleanups.push(() => none.app.close());
    res = await none.call('GET', '/api/root/expiry.ics');
    assert.equal(res.statusCode, 409, res.body);
    assert.equal(res.json().error.code, 'TARGET_NOT_CONFIGURED');
  });

  it('POST /api/plan from an expired root: refused (ROOT_EXPIRED), refused with a blank reason, recorded with one', async () => {
    const made = await createSpecPractice(path.join(tmp, 'expired'), { now: new Date(NOW.getTime() - YEAR - 3 * DAY) });
    const workDir = path.join(tmp, 'work');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir, target: new LocalRepoBackend(made.repo), now: () => NOW });
    cleanups.push(() => t.app.close());
    let res = await t.call('POST', '/api/archive', await fs.readFile(made.archive));
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await t.call('GET', '/api/root')).json().expired, true);

    res = await t.call('POST', '/api/plan', { keyType: 'ed25519' });
    assert.equal(res.statusCode, 202, res.body);
    const refused = await waitJob(t, res.json().jobId);
    assert.equal(refused.status, 'failed');
    assert.equal(refused.error?.code, 'ROOT_EXPIRED');

    for (const reason of ['', '   ']) {
      res = await t.call('POST', '/api/plan', { keyType: 'ed25519', allowExpired: { reason } });
      assert.equal(res.statusCode, 400, `blank reason "${reason}": ${res.body}`);
    }

    const reason = 'expired during the freeze; approved by J. Doe';
    res = await t.call('POST', '/api/plan', { keyType: 'ed25519', allowExpired: { reason } });
    assert.equal(res.statusCode, 202, res.body);
    assert.equal((await waitJob(t, res.json().jobId)).status, 'done');
    assert.equal((await waitJob(t, (await t.call('POST', '/api/sign', {})).json().jobId)).status, 'done');
    assert.equal((await waitJob(t, (await t.call('POST', '/api/save', {})).json().jobId)).status, 'done');
    res = await t.call('GET', '/api/record');
    assert.equal(res.statusCode, 200, res.body);
    const record = res.json() as { allowExpired?: { reason: string; expired: string }; old: { expires: string } };
    assert.deepEqual(record.allowExpired, { reason, expired: record.old.expires });
    // The ceremony in the work folder keeps the reason.
    const journal = await new CeremonyStore(workDir).current();
    assert.equal(journal?.allowExpired?.reason, reason);
  });
  it('POST /api/plan with changes from an expired root: refused (ROOT_EXPIRED), then a refresh with a reason, kept in the ceremony', async () => {
    const made = await createSpecPractice(path.join(tmp, 'expired-changes'), { now: new Date(NOW.getTime() - YEAR - 3 * DAY) });
    const workDir = path.join(tmp, 'work-changes');
    await fs.mkdir(workDir);
    const t = await testApp({ workDir, target: new LocalRepoBackend(made.repo), now: () => NOW });
    cleanups.push(() => t.app.close());
    assert.equal((await t.call('POST', '/api/archive', await fs.readFile(made.archive))).statusCode, 200);
    const changes = [{ kind: 'refresh-expiry' }];
    let res = await t.call('POST', '/api/plan', { keyType: 'ed25519', changes });
    assert.equal(res.statusCode, 202, res.body);
    const refused = await waitJob(t, res.json().jobId);
    assert.equal(refused.status, 'failed');
    assert.equal(refused.error?.code, 'ROOT_EXPIRED');

    const reason = 'renewing the expired root; approved by J. Doe';
    res = await t.call('POST', '/api/plan', { keyType: 'ed25519', changes, allowExpired: { reason } });
    assert.equal(res.statusCode, 202, res.body);
    assert.equal((await waitJob(t, res.json().jobId)).status, 'done');
    assert.equal((await waitJob(t, (await t.call('POST', '/api/sign', {})).json().jobId)).status, 'done');
    const journal = await new CeremonyStore(workDir).current();
    assert.equal(journal?.allowExpired?.reason, reason);
  });
});
