/**
 * When the metadata a target serves expires, and what renews it. Pure: roots and dates in, a report
 * out (gather.ts reads them from a target; ics.ts turns the report into reminders).
 *
 * The point (issue #13): the most common way a TUF fleet stops updating is an expired root. A root is
 * renewed only with the offline root keys (a refresh of the same keys, or a rotation), so those
 * expiries decide the exit status; timestamp, snapshot and targets are listed for information,
 * since their own role's keys (online in most repositories, and on a Factory's server) renew them.
 */
import type { Root } from '../tuf/model.js';

export const DAY_MS = 86_400_000;
/** The default warning window of `tuf-rotate expiry --within` (product.md: warn 30 days ahead). */
export const DEFAULT_WITHIN_DAYS = 30;

export type MetadataRole = 'root' | 'targets' | 'snapshot' | 'timestamp';

/** Who must act to renew it: the offline root key holders, or the role's own (usually online) keys. */
export type Renewal = 'offline' | 'online';

/** One expiring piece of metadata, as read from the target. */
export interface ExpiryInput {
  role: MetadataRole;
  /** A Factory's chain (CI or production), undefined for a repository or a root file. */
  chain?: 'ci' | 'prod';
  /** Where it came from: "metadata/root.json", "CI root of acme", a file name. */
  source: string;
  version: number;
  /** `expires` as written. */
  expires: string;
  expiresAt: Date;
  /** The role's threshold and key count in the root (to say how many holders must sign). */
  threshold?: number;
  keyCount?: number;
}

export interface ExpiryItem {
  role: MetadataRole;
  chain?: 'ci' | 'prod';
  source: string;
  /** A short label: "root", "root (production)", "timestamp". */
  label: string;
  version: number;
  expires: string;
  /** Whole days left (floor), negative once expired; an expiry today but later than now gives 0. */
  daysLeft: number;
  expired: boolean;
  /** Once expired: whole days since (floor), 0 on the day it expired. */
  daysAgo?: number;
  renewal: Renewal;
  /** One sentence: what renews it. */
  renewedBy: string;
  /** Offline-renewed and expiring within the window (or expired): what makes `expiry` exit 1. */
  due: boolean;
}

export interface ExpiryReport {
  target: string;
  now: string;
  withinDays: number;
  items: ExpiryItem[];
  /** True when any offline-renewed item is due. */
  due: boolean;
}

/** Whole days from `now` until `at` (floor), negative when past. */
export function daysLeft(at: Date, now: Date): number {
  return Math.floor((at.getTime() - now.getTime()) / DAY_MS);
}

/** The root's entry (and its threshold) for the report. */
export function rootInput(root: Root, source: string, chain?: 'ci' | 'prod'): ExpiryInput {
  const role = root.roles['root'];
  return {
    role: 'root',
    ...(chain ? { chain } : {}),
    source,
    version: root.version,
    expires: root.expires,
    expiresAt: root.expiresAt,
    ...(role ? { threshold: role.threshold, keyCount: role.keyids.length } : {}),
  };
}

function renewal(input: ExpiryInput): { renewal: Renewal; renewedBy: string } {
  const quorum = input.threshold !== undefined && input.keyCount !== undefined ? ` (${input.threshold} of ${input.keyCount})` : '';
  if (input.role === 'root') {
    return {
      renewal: 'offline',
      renewedBy:
        `the offline root keys${quorum}: a refresh (tuf-rotate change --refresh-expiry) or a rotation (tuf-rotate rotate)` +
        (input.chain === 'prod' ? '; a Factory re-signs its production root in the same transaction as the CI root' : ''),
    };
  }
  return {
    renewal: 'online',
    renewedBy: `the ${input.role} role's keys${quorum}, online in most repositories (the repository's tooling re-signs it)`,
  };
}

function label(input: ExpiryInput): string {
  if (input.chain === 'prod') return `${input.role} (production)`;
  if (input.chain === 'ci') return `${input.role} (CI)`;
  return input.role;
}

/** The report: every item with its days left, what renews it, and whether it is due. */
export function expiryReport(target: string, inputs: ExpiryInput[], now: Date, withinDays = DEFAULT_WITHIN_DAYS): ExpiryReport {
  const items = inputs.map((input): ExpiryItem => {
    const left = daysLeft(input.expiresAt, now);
    const expired = input.expiresAt.getTime() <= now.getTime();
    const r = renewal(input);
    // "Within 30 days": expires before now + 30 days (an expired one is due too).
    const within = input.expiresAt.getTime() - now.getTime() < withinDays * DAY_MS;
    return {
      role: input.role,
      ...(input.chain ? { chain: input.chain } : {}),
      source: input.source,
      label: label(input),
      version: input.version,
      expires: input.expires,
      daysLeft: left,
      expired,
      ...(expired ? { daysAgo: Math.floor((now.getTime() - input.expiresAt.getTime()) / DAY_MS) } : {}),
      ...r,
      due: r.renewal === 'offline' && (expired || within),
    };
  });
  return { target, now: now.toISOString(), withinDays, items, due: items.some((i) => i.due) };
}

/** "in 10 days", "today", "expired 1 day ago". */
export function whenText(item: Pick<ExpiryItem, 'daysLeft' | 'expired' | 'daysAgo'>): string {
  const n = item.daysLeft;
  if (item.expired) {
    const ago = item.daysAgo ?? 0;
    return ago === 0 ? 'expired less than a day ago' : `expired ${ago} day${ago === 1 ? '' : 's'} ago`;
  }
  if (n === 0) return 'expires today';
  return `expires in ${n} day${n === 1 ? '' : 's'}`;
}

/** The plain-text table `tuf-rotate expiry` prints. */
export function formatExpiryReport(report: ExpiryReport): string {
  const lines = [`Expiry of ${report.target} (as of ${report.now}):`];
  for (const i of report.items) {
    const mark = i.due ? 'DUE ' : i.renewal === 'offline' ? 'ok  ' : 'info';
    lines.push(`  [${mark}] ${i.label} v${i.version}: ${i.expires}, ${whenText(i)}. Renewed by ${i.renewedBy}.`);
  }
  const offline = report.items.filter((i) => i.renewal === 'offline');
  if (report.due) {
    lines.push(
      `Action needed: ${offline.filter((i) => i.due).map((i) => `${i.label} v${i.version}`).join(', ')} ` +
        `expire${offline.filter((i) => i.due).length === 1 ? 's' : ''} within ${report.withinDays} days (or expired); ` +
        'gather the root key holders and refresh or rotate the root.',
    );
  } else {
    lines.push(`Nothing the offline keys renew expires within ${report.withinDays} days.`);
  }
  return lines.join('\n');
}
