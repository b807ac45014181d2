/**
 * `tuf-rotate expiry` on repositories whose roots expire in 10, 40 and -1 days and on the practice
 * factory (real HTTP on loopback), its --ics file, and the expired-root override of `rotate`.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import ICAL from 'ical.js';
import { createPracticeFactory } from '../../server/practice/create.js';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import { createSpecPractice } from '../../server/practice/spec-repo.js';
import type { SpecPracticeResult } from '../../server/practice/spec-repo.js';
import { parseRoot } from '../../server/tuf/metadata.js';
import { CeremonyStore } from '../../server/ceremony/store.js';
import { cli } from '../helpers/cli.js';

const DAY = 86_400_000;
/** createSpecPractice's root lifetime. */
const YEAR = 365 * DAY;
/** "Today" for every run here: whole seconds, so the written expiry is exact. */
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);

interface ExpiryJson {
  ok: boolean;
  due: boolean;
  withinDays: number;
  items: { role: string; chain?: string; label: string; version: number; daysLeft: number; expired: boolean; renewal: string; due: boolean }[];
  ics?: string;
}

describe('tuf-rotate expiry', () => {
  let tmp: string;
  const repos = new Map<number, SpecPracticeResult>();
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-expiry-'));
    // Repositories whose root expires 10, 40 and -1 days from NOW.
    for (const days of [10, 40, -1]) {
      repos.set(days, await createSpecPractice(path.join(tmp, `repo${days}`), { now: new Date(NOW.getTime() - YEAR + days * DAY) }));
    }
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  for (const [days, code] of [[10, 1], [40, 0], [-1, 1]] as const) {
    it(`a repository whose root expires in ${days} days: ${days} days left, exit ${code} at --within 30`, async () => {
      const repo = repos.get(days)?.repo ?? '';
      const r = await cli(['expiry', '--repo', repo, '--within', '30', '--json'], { now: NOW });
      assert.equal(r.code, code, r.stderr);
      const out = r.json() as unknown as ExpiryJson;
      const root = out.items.find((i) => i.role === 'root');
      assert.equal(root?.daysLeft, days);
      assert.equal(root?.expired, days < 0);
      assert.equal(root?.renewal, 'offline');
      assert.equal(out.due, code === 1);
      assert.equal(out.ok, code === 0);
      // The other top-level metadata, for information only (their own keys renew them).
      assert.deepEqual(out.items.map((i) => [i.role, i.renewal]), [['root', 'offline'], ['timestamp', 'online'], ['snapshot', 'online'], ['targets', 'online']]);

      const text = await cli(['expiry', '--repo', repo], { now: NOW });
      assert.equal(text.code, code);
      assert.match(text.stdout, days < 0 ? /root v1: .*expired 1 day ago/ : new RegExp(`root v1: .*expires in ${days} days`));
      assert.match(text.stdout, /Renewed by the offline root keys \(1 of 1\)/);
    });
  }

  it('--within moves the threshold: 40 days left is due at --within 41, not at 40', async () => {
    const repo = repos.get(40)?.repo ?? '';
    assert.equal((await cli(['expiry', '--repo', repo, '--within', '41'], { now: NOW })).code, 1);
    assert.equal((await cli(['expiry', '--repo', repo, '--within', '40'], { now: NOW })).code, 0);
  });

  it('takes root files too, and writes an iCalendar file (atomically, public) that ical.js parses', async () => {
    const files = [10, 40].map((d) => path.join(repos.get(d)?.repo ?? '', 'metadata', 'root.json'));
    const ics = path.join(tmp, 'reminders.ics');
    const r = await cli(['expiry', ...files, '--ics', ics, '--json'], { now: NOW });
    assert.equal(r.code, 1, r.stderr);
    const out = r.json() as unknown as ExpiryJson;
    assert.deepEqual(out.items.map((i) => i.daysLeft), [10, 40]);
    assert.equal(out.ics, ics);
    const text = await fs.readFile(ics, 'utf8');
    assert.equal(((await fs.stat(ics)).mode & 0o777).toString(8), '644');
    assert.deepEqual((await fs.readdir(tmp)).filter((n) => n.endsWith('.tmp')), []);
    const events = new ICAL.Component(ICAL.parse(text)).getAllSubcomponents('vevent').map((v) => new ICAL.Event(v));
    assert.equal(events.length, 2);
    for (const [i, ev] of events.entries()) {
      const expires = new Date(NOW.getTime() + [10, 40][i]! * DAY);
      assert.deepEqual([ev.startDate.year, ev.startDate.month, ev.startDate.day], [expires.getUTCFullYear(), expires.getUTCMonth() + 1, expires.getUTCDate()]);
      assert.match(ev.description, /root\.json/);
      assert.match(ev.description, /version 1/);
    }
    // Run again (as cron would): the file is replaced, not refused.
    assert.equal((await cli(['expiry', ...files, '--ics', ics], { now: NOW })).code, 1);
  });

  it('refuses bad usage: no target, a target and files, a bad --within', async () => {
    assert.equal((await cli(['expiry'])).code, 2);
    assert.equal((await cli(['expiry', '--repo', repos.get(40)?.repo ?? '', 'x.json'])).code, 2);
    assert.equal((await cli(['expiry', '--repo', repos.get(40)?.repo ?? '', '--within', 'soon'])).code, 2);
    assert.equal((await cli(['expiry', path.join(tmp, 'missing.json')])).code, 2);
  });

  it("lists a practice factory's CI and production roots over HTTP, and is due 10 days before they expire", async () => {
    const info = await createPracticeFactory(path.join(tmp, 'factory'), { rootKeyType: 'ed25519' });
    const app = await buildPracticeFactory(info.dir);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => app.close());
    const ci = parseRoot(await fs.readFile(path.join(info.dir, 'ci', '1.root.json'), 'utf8'));
    const target = ['--factory', info.factory, '--api-url', url, '--token-file', info.tokenFile];

    const far = await cli(['expiry', ...target, '--json'], { now: NOW });
    assert.equal(far.code, 0, far.stderr);
    const farOut = far.json() as unknown as ExpiryJson;
    assert.deepEqual(farOut.items.map((i) => [i.label, i.version, i.renewal]), [['root (CI)', 1, 'offline'], ['root (production)', 1, 'offline']]);
    assert.ok((farOut.items[0]?.daysLeft ?? 0) >= 364);

    const tenDaysBefore = new Date(ci.expiresAt.getTime() - 10 * DAY);
    const soon = await cli(['expiry', ...target, '--within', '30', '--json'], { now: tenDaysBefore });
    assert.equal(soon.code, 1);
    const soonOut = soon.json() as unknown as ExpiryJson;
    assert.deepEqual(soonOut.items.map((i) => [i.chain, i.daysLeft, i.due]), [['ci', 10, true], ['prod', 10, true]]);
  });
});

describe('rotate from an expired root', () => {
  let tmp: string;
  let made: SpecPracticeResult;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-expired-'));
    made = await createSpecPractice(path.join(tmp, 'p'), { now: new Date(NOW.getTime() - YEAR - DAY) });
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('is refused without --allow-expired (ROOT_EXPIRED, exit 1), and nothing is written', async () => {
    const out = path.join(tmp, 'new.tgz');
    const r = await cli(['rotate', '--keys', made.archive, '--out', out, '--repo', made.repo, '--json'], { now: NOW });
    assert.equal(r.code, 1, r.stderr);
    assert.equal((r.json()['error'] as { code: string }).code, 'ROOT_EXPIRED');
    assert.match(r.stderr, /expired on .*--allow-expired/);
    await assert.rejects(fs.stat(out));
    assert.deepEqual((await fs.readdir(path.join(made.repo, 'metadata'))).filter((n) => n === '2.root.json'), []);
  });

  it('is refused with an empty reason (exit 2)', async () => {
    for (const reason of ['', '   ']) {
      const r = await cli(['rotate', '--keys', made.archive, '--out', path.join(tmp, 'x.tgz'), '--repo', made.repo, '--allow-expired', reason, '--json'], { now: NOW });
      assert.equal(r.code, 2, r.stderr);
      assert.equal((r.json()['error'] as { code: string }).code, 'BAD_USAGE');
    }
  });

  it('goes ahead with a reason, which the journal keeps; the new root is live again', async () => {
    const out = path.join(tmp, 'new.tgz');
    const reason = 'root expired over the holidays; ticket OPS-42';
    const r = await cli(['rotate', '--keys', made.archive, '--out', out, '--repo', made.repo, '--allow-expired', reason, '--json'], { now: NOW });
    assert.equal(r.code, 0, r.stderr);
    const res = r.json() as { version: number; allowExpired?: { reason: string; expired: string }; ceremony: string; work: string };
    assert.equal(res.version, 2);
    assert.equal(res.allowExpired?.reason, reason);
    // The ceremony (server/ceremony/) keeps the reason.
    const journal = await new CeremonyStore(res.work).load(res.ceremony);
    assert.equal(journal.state, 'published');
    assert.equal(journal.allowExpired?.reason, reason);
    assert.equal(journal.allowExpired?.expired, parseRoot(await fs.readFile(path.join(made.repo, 'metadata', '1.root.json'), 'utf8')).expires);
    const e = await cli(['expiry', '--repo', made.repo, '--json'], { now: NOW });
    assert.equal(e.code, 0, e.stdout);
  });
});

describe('rotate a practice factory whose root has expired', () => {
  let tmp: string;
  const cleanups: (() => Promise<void>)[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-expired-factory-'));
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('is refused before any transaction opens, and with a reason the root-key change renews both chains', async () => {
    // Created a year and two days ago: its root expired yesterday.
    const info = await createPracticeFactory(path.join(tmp, 'factory'), { rootKeyType: 'ed25519', now: new Date(NOW.getTime() - YEAR - 2 * DAY) });
    const app = await buildPracticeFactory(info.dir, { now: () => NOW });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => app.close());
    const target = ['--factory', info.factory, '--api-url', url, '--token-file', info.tokenFile];
    const client = new FoundriesClient({ apiUrl: url, factory: info.factory, token: (await fs.readFile(info.tokenFile, 'utf8')).trim() });

    const before = await cli(['expiry', ...target, '--json'], { now: NOW });
    assert.equal(before.code, 1);
    assert.deepEqual((before.json() as unknown as ExpiryJson).items.map((i) => [i.chain, i.expired]), [['ci', true], ['prod', true]]);

    const out = path.join(tmp, 'offline-keys.v2.tgz');
    const refused = await cli(['rotate', ...target, '--keys', info.archivePath ?? '', '--out', out, '--json'], { now: NOW });
    assert.equal(refused.code, 1, refused.stderr);
    assert.equal((refused.json()['error'] as { code: string }).code, 'ROOT_EXPIRED');
    assert.equal((await client.updates()).status, 'NONE', 'no transaction was opened');
    await assert.rejects(fs.stat(out));

    const reason = 'the root expired unnoticed; renewing it now (INC-7)';
    const done = await cli(['rotate', ...target, '--keys', info.archivePath ?? '', '--out', out, '--allow-expired', reason, '--json'], { now: NOW });
    assert.equal(done.code, 0, done.stderr);
    const ran = done.json() as { ceremony: string; work: string };
    const journal = await new CeremonyStore(ran.work).load(ran.ceremony);
    assert.equal(journal.state, 'published');
    assert.equal(journal.allowExpired?.reason, reason);

    const after2 = await cli(['expiry', ...target, '--json'], { now: NOW });
    assert.equal(after2.code, 0, after2.stdout);
    assert.deepEqual((after2.json() as unknown as ExpiryJson).items.map((i) => [i.chain, i.version, i.expired]), [['ci', 2, false], ['prod', 2, false]]);
  });
});


describe('change from an expired root', () => {
  let tmp: string;
  let made: SpecPracticeResult;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-expired-change-'));
    made = await createSpecPractice(path.join(tmp, 'p'), { now: new Date(NOW.getTime() - YEAR - DAY) });
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('--refresh-expiry is refused without --allow-expired, like rotate; with a reason it publishes and the ceremony keeps the reason', async () => {
    const work = path.join(tmp, 'work');
    const refused = await cli(['change', '--repo', made.repo, '--keys', made.archive, '--refresh-expiry', '--work', work, '--json'], { now: NOW });
    assert.equal(refused.code, 1, refused.stderr);
    assert.equal((refused.json()['error'] as { code: string }).code, 'ROOT_EXPIRED');
    assert.deepEqual((await fs.readdir(path.join(made.repo, 'metadata'))).filter((n) => n === '2.root.json'), [], 'nothing written');

    const reason = 'root expired during the freeze; CHG-9';
    const done = await cli(['change', '--repo', made.repo, '--keys', made.archive, '--refresh-expiry', '--work', work, '--allow-expired', reason, '--json'], { now: NOW });
    assert.equal(done.code, 0, done.stderr);
    const res = done.json() as { version: number; ceremony: string; work: string };
    assert.equal(res.version, 2);
    const journal = await new CeremonyStore(res.work).load(res.ceremony);
    assert.equal(journal.state, 'published');
    assert.equal(journal.allowExpired?.reason, reason);
    const e = await cli(['expiry', '--repo', made.repo, '--json'], { now: NOW });
    assert.equal(e.code, 0, e.stdout);
  });
});
