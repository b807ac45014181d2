import { matrixLine, sourcesText } from '../../shared/verifiers.js';
import type { ChainReport, RuleResult, VerifyReport } from '../tuf/model.js';
import type { RootDiff } from '../tuf/diff.js';

const MARK: Record<RuleResult['status'], string> = { pass: 'ok  ', fail: 'FAIL', warn: 'warn', info: 'info' };

/** One checklist line: status, version, rule, whose rule it is, what was found. */
function formatRule(r: RuleResult): string {
  return `  [${MARK[r.status]}] v${r.version} ${r.rule} (${sourcesText(r.sources)}): ${r.message}`;
}

/** The report's rules, then who would accept or refuse the root. */
export function formatReport(report: VerifyReport): string {
  return [...report.results.map(formatRule), `Verifiers: ${matrixLine(report.matrix, report.dialect)}`].join('\n');
}

/** What a client does when the chain ends in an expired root, and what renews it. */
export function expiredMessage(expired: { version: number; expires: string }, at: Date): string {
  return (
    `Every version verifies, but the last one (version ${expired.version}) expired on ${expired.expires} ` +
    `(checked as of ${at.toISOString()}): a client will refuse to go on until a newer root is published. ` +
    'A root rotation, or an expiry refresh signed with the root keys, renews it.'
  );
}

export function formatChain(chain: ChainReport, at: Date = new Date()): string {
  const lines: string[] = [];
  for (const step of chain.steps) lines.push(...step.results.map(formatRule));
  if (chain.ok) lines.push(`Chain verified up to version ${chain.finalVersion} (as of ${at.toISOString()}).`);
  else if (chain.expired) lines.push(expiredMessage(chain.expired, at));
  else lines.push(`Chain broken at version ${chain.failedAt ?? '?'}; last trusted version ${chain.finalVersion}.`);
  if (chain.warnings.length > 0) {
    lines.push('Warnings:');
    for (const w of chain.warnings) lines.push(`  v${w.version} ${w.rule} (${sourcesText(w.sources)}): ${w.message}`);
  }
  lines.push(`Verifiers: ${matrixLine(chain.matrix, chain.dialect)}`);
  return lines.join('\n');
}

/** An `x-key-owners` change: "owner + KEYID: Name (polis-id 1a2b3c4d), added 2026-…". */
function ownerLine(o: RootDiff['owners'][number]): string {
  const who = (x: NonNullable<typeof o.from>): string => `${x.label ?? x.polisId ?? 'no polis-id'}${x.createdAt !== undefined ? `, added ${x.createdAt}` : ''}`;
  if (o.from === undefined && o.to !== undefined) return `owner + ${o.keyid}: ${who(o.to)}`;
  if (o.to === undefined && o.from !== undefined) return `owner - ${o.keyid}: ${who(o.from)}`;
  return `owner ~ ${o.keyid}: ${o.from ? who(o.from) : '-'} -> ${o.to ? who(o.to) : '-'}`;
}

/** An `x-changelog`: its message, by whom (named like the owners), when. */
function changelogText(c: NonNullable<RootDiff['changelog']>['to']): string {
  if (c === undefined) return 'none';
  const who = c.label ?? (c.polisId !== undefined ? `polis-id ${c.polisId}` : undefined);
  const facts = [who !== undefined ? `by ${who}` : undefined, c.timestamp].filter((x) => x !== undefined);
  return `${JSON.stringify(c.message ?? null)}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}`;
}

export function formatDiff(d: RootDiff): string {
  const out: string[] = [];
  out.push(`version: ${d.version.from} -> ${d.version.to}`);
  out.push(`expires: ${d.expires.from} -> ${d.expires.to}`);
  for (const k of d.keysAdded) out.push(`+ key ${k.keyid} (${k.algorithm ?? k.keytype}${k.bits ? ` ${k.bits}` : ''})`);
  for (const k of d.keysRemoved) out.push(`- key ${k.keyid} (${k.algorithm ?? k.keytype}${k.bits ? ` ${k.bits}` : ''})`);
  for (const r of d.roles) {
    const changed = r.keyidsAdded.length > 0 || r.keyidsRemoved.length > 0 || r.threshold.from !== r.threshold.to;
    if (!changed) continue;
    const same = r.threshold.from === r.threshold.to;
    out.push(`role ${r.name}: threshold ${same ? `${r.threshold.to ?? '-'} (unchanged)` : `${r.threshold.from ?? '-'} -> ${r.threshold.to ?? '-'}`}`);
    for (const id of r.keyidsAdded) out.push(`  + ${id}`);
    for (const id of r.keyidsRemoved) out.push(`  - ${id}`);
  }
  if (d.changelog && d.changelog.from?.message === d.changelog.to?.message) out.push(`changelog: ${JSON.stringify(d.changelog.to?.message ?? null)} (unchanged)`);
  else if (d.changelog) out.push(`changelog: ${changelogText(d.changelog.from)} -> ${changelogText(d.changelog.to)}`);
  for (const o of d.owners) out.push(ownerLine(o));
  for (const f of d.otherFields) out.push(`~ ${f.path}: ${JSON.stringify(f.from ?? null)} -> ${JSON.stringify(f.to ?? null)}`);
  for (const w of d.warnings) out.push(`! ${w.severity}: ${w.message}`);
  return out.join('\n');
}
