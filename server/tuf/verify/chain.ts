/**
 * Chain verification: a client far behind walking from its trusted root through every later
 * version (verifyChain), and the early warning for a root about to expire (expiryWarning).
 */
import type { ChainReport, Root, RuleResult, VerifyReport } from '../model.js';
import { verifyRootUpdate } from '../verify.js';
import { DAY_MS, day, everyone, plural, result } from './common.js';
import { verdictMatrix } from './matrix.js';
import { expiryRule } from './root-rules.js';

/** When a step fails on its expiry alone: every rule but the expiry passed. */
function expiredOnly(step: VerifyReport): boolean {
  const failing = step.results.filter((r) => r.status === 'fail');
  return failing.length > 0 && failing.every((r) => r.rule === 'expiry');
}

/**
 * Walks `chain` from `trusted` like a client far behind: each root against the last accepted one,
 * expiry of the final root only (TUF spec 5.3.10; libaktualizr does the same). Stops at the first
 * root that fails; `warnings` gathers every 'warn' result of the steps taken. When the chain is
 * empty, the trusted root is the final one and its expiry is what is checked. `expired` is set when
 * every version verifies but the final root has expired as of `now`.
 */
export function verifyChain(trusted: Root, chain: Root[], opts: { now: Date; factory?: boolean }): ChainReport {
  const steps: VerifyReport[] = [];
  const warnings: RuleResult[] = [];
  const all: RuleResult[] = [];
  const multi = chain.length > 1;
  const done = (r: Omit<ChainReport, 'matrix' | 'warnings' | 'steps' | 'dialect'>): ChainReport => ({
    ...r,
    dialect: trusted.dialect,
    steps,
    warnings,
    matrix: verdictMatrix(trusted.dialect, all, multi),
  });
  let current = trusted;
  for (const [i, next] of chain.entries()) {
    const step = verifyRootUpdate(current, next, { now: opts.now, checkExpiry: i === chain.length - 1, factory: opts.factory ?? false });
    steps.push(step);
    all.push(...step.results);
    for (const r of step.results) if (r.status === 'warn') warnings.push(r);
    if (!step.ok) {
      const expired = i === chain.length - 1 && expiredOnly(step) ? { version: next.version, expires: next.expires } : undefined;
      return done({ ok: false, finalVersion: current.version, failedAt: next.version, expired });
    }
    current = next;
  }
  if (chain.length === 0) {
    const r = expiryRule(trusted, opts.now, true);
    if (r.status === 'fail') {
      all.push(r);
      return done({ ok: false, finalVersion: trusted.version, failedAt: trusted.version, expired: { version: trusted.version, expires: trusted.expires } });
    }
  }
  return done({ ok: true, finalVersion: current.version, failedAt: undefined, expired: undefined });
}

/**
 * A warning when `root` expires within `days` of `now` (or already has), else undefined. Shown
 * beside the current root; the `expiry` rule is what refuses an expired root.
 */
export function expiryWarning(root: Root, now: Date, days = 30): RuleResult | undefined {
  const left = root.expiresAt.getTime() - now.getTime();
  if (left > days * DAY_MS) return undefined;
  const v = root.version;
  const who = everyone(root.dialect);
  if (left <= 0) return result('expiry', 'warn', `Version ${v} expired at ${root.expires}.`, v, who, `version ${v} expired on ${day(root.expiresAt)}`);
  const d = Math.floor(left / DAY_MS);
  const when = d === 0 ? 'in less than a day' : `in ${plural(d, 'day')}`;
  return result('expiry', 'warn', `Version ${v} expires at ${root.expires}, ${when}; rotate or re-sign it before then.`, v, who, `version ${v} expires ${when}`);
}
