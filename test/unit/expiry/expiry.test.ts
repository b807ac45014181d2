import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ICAL from 'ical.js';
import { DAY_MS, daysLeft, expiryReport, formatExpiryReport } from '../../../server/expiry/expiry.js';
import type { ExpiryInput } from '../../../server/expiry/expiry.js';
import { ALARM_DAYS, escapeText, expiryCalendar, foldLine } from '../../../server/expiry/ics.js';
import { formatExpires } from '../../../server/tuf/metadata.js';

const NOW = new Date('2026-12-01T12:00:00Z');

function input(role: ExpiryInput['role'], days: number, extra: Partial<ExpiryInput> = {}): ExpiryInput {
  const at = new Date(NOW.getTime() + days * DAY_MS);
  return { role, source: `${role}.json`, version: 3, expires: formatExpires(at), expiresAt: at, threshold: 1, keyCount: 1, ...extra };
}

describe('expiryReport', () => {
  it('gives whole days left (floor), negative once expired', () => {
    assert.equal(daysLeft(new Date(NOW.getTime() + 10 * DAY_MS), NOW), 10);
    assert.equal(daysLeft(new Date(NOW.getTime() + 10 * DAY_MS - 1000), NOW), 9);
    assert.equal(daysLeft(new Date(NOW.getTime() - DAY_MS), NOW), -1);
    assert.equal(daysLeft(new Date(NOW.getTime() + 1000), NOW), 0);
  });

  it('is due when a root expires within the window or has expired, never for online-signed metadata', () => {
    for (const [days, due] of [[10, true], [40, false], [-1, true], [29.9, true], [30, false]] as const) {
      const r = expiryReport('repo', [input('root', days)], NOW, 30);
      assert.equal(r.due, due, `root in ${days} days`);
      assert.equal(r.items[0]?.renewal, 'offline');
    }
    const online = expiryReport('repo', [input('root', 300), input('timestamp', 1), input('snapshot', -2), input('targets', 5)], NOW, 30);
    assert.equal(online.due, false);
    assert.deepEqual(online.items.map((i) => i.renewal), ['offline', 'online', 'online', 'online']);
    assert.equal(online.items[2]?.expired, true);
    assert.equal(online.items[2]?.daysAgo, 2);
  });

  it('says how long ago an expired root expired in whole days', () => {
    const r = expiryReport('repo', [input('root', -2.5), input('root', -1), input('root', -0.1)], NOW);
    assert.deepEqual(r.items.map((i) => [i.daysLeft, i.daysAgo]), [[-3, 2], [-1, 1], [-1, 0]]);
    assert.match(formatExpiryReport(r), /expired 2 days ago[\s\S]*expired 1 day ago[\s\S]*expired less than a day ago/);
  });

  it('names both chains of a Factory and what renews each', () => {
    const r = expiryReport('FoundriesFactory acme', [input('root', 100, { chain: 'ci' }), input('root', 5, { chain: 'prod' })], NOW);
    assert.deepEqual(r.items.map((i) => [i.label, i.due]), [['root (CI)', false], ['root (production)', true]]);
    assert.match(r.items[0]?.renewedBy ?? '', /offline root keys \(1 of 1\).*refresh.*rotation/);
    const text = formatExpiryReport(r);
    assert.match(text, /\[DUE \] root \(production\) v3: .*expires in 5 days/);
    assert.match(text, /Action needed: root \(production\) v3/);
  });
});

describe('expiryCalendar (RFC 5545)', () => {
  const report = expiryReport(
    'FoundriesFactory acme, with a comma; a semicolon and é',
    [input('root', 100, { chain: 'ci', version: 7 }), input('root', 200, { chain: 'prod', version: 7 }), input('timestamp', 3)],
    NOW,
  );
  const text = expiryCalendar(report, NOW);

  it('uses CRLF line endings and folds every line at 75 octets, never inside a character', () => {
    assert.ok(text.endsWith('\r\n'));
    assert.ok(!/[^\r]\n/.test(text), 'every LF follows a CR');
    for (const line of text.split('\r\n')) assert.ok(Buffer.byteLength(line, 'utf8') <= 75, `${line.length}: ${line}`);
    const folded = foldLine(`DESCRIPTION:${'é'.repeat(80)}`);
    assert.ok(folded.length > 1);
    for (const l of folded) assert.ok(Buffer.byteLength(l, 'utf8') <= 75);
    assert.equal(folded.map((l, i) => (i === 0 ? l : l.slice(1))).join(''), `DESCRIPTION:${'é'.repeat(80)}`);
    assert.equal(escapeText('a,b;c\\d\ne'), 'a\\,b\\;c\\\\d\\ne');
  });

  it('parses with ical.js: one event per offline-renewed expiry, with UID, DTSTAMP, a DATE start and the alarms 60, 30 and 7 days before', () => {
    const cal = new ICAL.Component(ICAL.parse(text));
    assert.equal(cal.getFirstPropertyValue('version'), '2.0');
    assert.ok(String(cal.getFirstPropertyValue('prodid')).length > 0);
    const events = cal.getAllSubcomponents('vevent');
    assert.equal(events.length, 2, 'the timestamp needs no reminder');
    const uids = new Set<string>();
    for (const [i, vevent] of events.entries()) {
      const item = report.items[i];
      assert.ok(item);
      const ev = new ICAL.Event(vevent);
      uids.add(ev.uid);
      assert.match(ev.uid, /@tuf-rotate$/);
      assert.ok(vevent.getFirstPropertyValue('dtstamp'), 'DTSTAMP');
      assert.equal(ev.startDate.isDate, true, 'DTSTART is a DATE');
      const expires = new Date(item.expires);
      assert.deepEqual([ev.startDate.year, ev.startDate.month, ev.startDate.day], [expires.getUTCFullYear(), expires.getUTCMonth() + 1, expires.getUTCDate()]);
      assert.match(ev.description, /FoundriesFactory acme, with a comma; a semicolon and é/);
      assert.match(ev.description, /version 7/);
      assert.match(ev.description, /refresh .*or a rotation/);
      const alarms = vevent.getAllSubcomponents('valarm');
      assert.equal(alarms.length, ALARM_DAYS.length);
      const fire = alarms.map((a) => {
        assert.equal(a.getFirstPropertyValue('action'), 'DISPLAY');
        assert.ok(String(a.getFirstPropertyValue('description')).length > 0);
        const t = ev.startDate.clone();
        t.addDuration(a.getFirstPropertyValue('trigger') as ICAL.Duration);
        return Date.UTC(t.year, t.month - 1, t.day);
      });
      const startDay = Date.UTC(expires.getUTCFullYear(), expires.getUTCMonth(), expires.getUTCDate());
      assert.deepEqual(fire, [60, 30, 7].map((d) => startDay - d * DAY_MS));
    }
    assert.equal(uids.size, 2);
    // The same expiry gives the same UID (a re-import updates the event).
    assert.equal(expiryCalendar(report, new Date(NOW.getTime() + DAY_MS)).match(/UID:.*/g)?.join(), text.match(/UID:.*/g)?.join());
  });
});
