/**
 * What every rule of the verifier shares: the options of a check, the RuleResult builder, the
 * sources of a rule held by every client of a dialect, the Foundries-API-only status, and the small
 * text helpers the messages use (short key IDs, plurals, dates). Pure.
 */
import type { Dialect, RuleId, RuleResult, RuleSource } from '../model.js';

export interface VerifyOptions {
  now: Date;
  /** Check that the new root has not expired (default true; a chain checks only its final root). */
  checkExpiry?: boolean;
  /**
   * The root is about to be published to a Factory (a rotation to a factory or practice target):
   * rules only the Foundries API holds fail. Otherwise (a plain `verify`) they warn, since devices
   * accept such a root.
   */
  factory?: boolean;
}

export const DAY_MS = 24 * 60 * 60 * 1000;

/** Every verifier of a dialect: a rule they all hold. */
export function everyone(dialect: Dialect): RuleSource[] {
  return dialect === 'foundries' ? ['device', 'foundries-api'] : ['spec-clients', 'strict-clients'];
}

/** The first 8 hex characters of a key ID: enough to recognise it, never more of anything. */
export function short(id: string): string {
  return id.slice(0, 8);
}

export function list(ids: Iterable<string>): string {
  const s = [...ids].map(short);
  return s.length === 0 ? 'none' : s.join(', ');
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function has<T>(rec: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(rec, key) ? rec[key] : undefined;
}

export type Status = RuleResult['status'];

export function result(rule: RuleId, status: Status, message: string, version: number, sources: RuleSource[], shortText?: string): RuleResult {
  const r: RuleResult = { rule, status, message, version, sources };
  if (shortText !== undefined && status !== 'pass' && status !== 'info') r.short = shortText;
  return r;
}

/** A rule only the Foundries API holds: a failure before publishing to a Factory, else a warning. */
export function apiOnly(opts: VerifyOptions): { status: Status; tail: string } {
  return opts.factory
    ? { status: 'fail', tail: 'the Factory’s API refuses it, so it cannot be published there (devices would accept it)' }
    : { status: 'warn', tail: 'devices accept it, but the Factory’s API refuses it: this fails before publishing to a Factory' };
}

export function q(s: string): string {
  return JSON.stringify(s.slice(0, 40));
}

/** The date part of an instant, for messages: 2026-11-20. */
export function day(d: Date): string {
  return d.toISOString().slice(0, 10);
}
