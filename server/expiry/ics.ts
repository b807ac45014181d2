/**
 * Reminders as an iCalendar file (RFC 5545): one all-day VEVENT on the expiry date of each
 * offline-renewed item, with alarms 60, 30 and 7 days before. Pure: a report in, text out.
 *
 * RFC 5545 details that calendar apps rely on: CRLF line endings (3.1), lines folded at 75 octets
 * with a leading space on continuation lines, never inside a UTF-8 sequence (3.1), TEXT values with
 * `\` `;` `,` and newlines escaped (3.3.11), VERSION and PRODID in the calendar (3.6), UID and
 * DTSTAMP in every event (3.6.1), ACTION, TRIGGER and DESCRIPTION in every DISPLAY alarm (3.6.6).
 */
import { sha256Hex } from '../util/fs-atomic.js';
import type { ExpiryItem, ExpiryReport } from './expiry.js';

/** Days before the expiry date at which each event's alarms fire. */
export const ALARM_DAYS = [60, 30, 7] as const;

const MAX_OCTETS = 75;

/** TEXT value escaping (RFC 5545 3.3.11). */
export function escapeText(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/;/g, '\\;').replace(/,/g, '\\,').replace(/\r\n|\r|\n/g, '\\n');
}

/** Folds one content line into lines of at most 75 octets (RFC 5545 3.1), splitting between characters. */
export function foldLine(line: string): string[] {
  const out: string[] = [];
  let current = '';
  let octets = 0;
  for (const ch of line) {
    const n = Buffer.byteLength(ch, 'utf8');
    // A continuation line starts with one space, which counts toward its 75 octets.
    if (octets + n > MAX_OCTETS) {
      out.push(current);
      current = ' ';
      octets = 1;
    }
    current += ch;
    octets += n;
  }
  out.push(current);
  return out;
}

/** 20261201 (a DATE value, UTC calendar day). */
function dateValue(d: Date): string {
  return d.toISOString().slice(0, 10).replace(/-/g, '');
}

/** 20261201T113600Z (a UTC DATE-TIME value). */
function dateTimeValue(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
}

/** Stable across runs, so re-importing the file updates the event instead of adding a second one. */
function uid(target: string, item: ExpiryItem): string {
  const h = sha256Hex(new TextEncoder().encode(`${target}\n${item.chain ?? ''}\n${item.role}\n${item.version}\n${item.expires}`));
  return `${h.slice(0, 32)}@tuf-rotate`;
}

function event(report: ExpiryReport, item: ExpiryItem, stamp: Date): string[] {
  const at = new Date(item.expires);
  const day = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  const next = new Date(day.getTime() + 86_400_000);
  const summary = `TUF ${item.label} v${item.version} of ${report.target} expires`;
  const description =
    `The ${item.label} metadata (version ${item.version}) of ${report.target} expires at ${item.expires}. ` +
    'After that, devices and clients refuse every update until a newer root is published. ' +
    `Renew it before then with ${item.renewedBy}. ` +
    'Check with: tuf-rotate expiry.';
  const lines = [
    'BEGIN:VEVENT',
    `UID:${uid(report.target, item)}`,
    `DTSTAMP:${dateTimeValue(stamp)}`,
    `DTSTART;VALUE=DATE:${dateValue(day)}`,
    `DTEND;VALUE=DATE:${dateValue(next)}`,
    `SUMMARY:${escapeText(summary)}`,
    `DESCRIPTION:${escapeText(description)}`,
    'TRANSP:TRANSPARENT',
  ];
  for (const days of ALARM_DAYS) {
    lines.push(
      'BEGIN:VALARM',
      'ACTION:DISPLAY',
      `TRIGGER;RELATED=START:-P${days}D`,
      `DESCRIPTION:${escapeText(`${summary} in ${days} days (${item.expires}): renew it with ${item.renewedBy}.`)}`,
      'END:VALARM',
    );
  }
  lines.push('END:VEVENT');
  return lines;
}

/** The calendar: one event per offline-renewed item of the report (online-renewed ones need no reminder). */
export function expiryCalendar(report: ExpiryReport, stamp: Date): string {
  const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//tuf-rotate//expiry reminders//EN', 'CALSCALE:GREGORIAN', 'METHOD:PUBLISH'];
  for (const item of report.items) if (item.renewal === 'offline') lines.push(...event(report, item, stamp));
  lines.push('END:VCALENDAR');
  return lines.flatMap(foldLine).join('\r\n') + '\r\n';
}
