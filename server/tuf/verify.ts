/**
 * The verifier: does a new root pass every rule its dialect's clients apply when they update from a
 * trusted root (docs/tuf-dialects.md), plus the one rule none of them enforces (one public key under
 * two key IDs counts once)? Every rule yields a RuleResult, in checklist order, so the UI can show
 * the whole list and the CLI can print it. Each result names whose rule it is (`sources`: the device,
 * the Foundries API, tuf-js/python-tuf, tough, fioctl or tuf-rotate), and every report ends with a
 * matrix of what each verifier would do. Rules only the Foundries API holds warn, or fail when the
 * root is on its way to a Factory (`factory`).
 *
 * Pure: no fs, no network. Decoded public keys are cached across calls (a chain of 1,000 roots
 * reuses the same handful of keys), `signed` is canonicalised once per step, and each signature is
 * checked at most once per step even when its key sits in both the old and the new root role.
 *
 * This file holds the checklist order and the two entry points; the rules, keys, matrix and chain
 * walk live in `verify/`.
 */
import type { Root, RuleResult, VerifyReport } from './model.js';
import type { VerifyOptions } from './verify/common.js';
import { apiFieldsRule, apiKeyFormRule, canonicalAsciiRule, expiresFormatRule, keyTypesRule, signatureMethodsRule, sizeRule } from './verify/foundries-rules.js';
import { verdictMatrix } from './verify/matrix.js';
import {
  distinctKeysRule,
  expiryRule,
  roleKeysPresentRule,
  rolesCompleteRule,
  signaturesUniqueRule,
  thresholdsReachableRule,
  typeRule,
  versionRule,
} from './verify/root-rules.js';
import { signatureRules } from './verify/signature-rules.js';
import { keyIdHashRule } from './verify/spec-rules.js';

/** The rules about `next` alone, in checklist order, between `expiry` and the signature rules. */
function structuralRules(next: Root, opts: VerifyOptions): RuleResult[] {
  const out = [
    rolesCompleteRule(next),
    roleKeysPresentRule(next),
    thresholdsReachableRule(next),
    distinctKeysRule(next),
    signaturesUniqueRule(next),
  ];
  if (next.dialect === 'foundries') out.push(signatureMethodsRule(next), keyTypesRule(next), apiKeyFormRule(next, opts), apiFieldsRule(next, opts));
  else out.push(keyIdHashRule(next));
  if (next.dialect === 'foundries') out.push(canonicalAsciiRule(next), sizeRule(next));
  return out;
}

function report(next: Root, results: RuleResult[]): VerifyReport {
  return { ok: results.every((r) => r.status !== 'fail'), dialect: next.dialect, results, matrix: verdictMatrix(next.dialect, results) };
}

/**
 * Would a client holding `trusted` accept `next` as its next root? Every rule of next's dialect,
 * in checklist order; `ok` when none fails. Expiry is checked unless `checkExpiry` is false.
 */
export function verifyRootUpdate(trusted: Root, next: Root, opts: VerifyOptions): VerifyReport {
  return report(next, [
    typeRule(trusted, next),
    versionRule(trusted, next),
    expiryRule(next, opts.now, opts.checkExpiry ?? true),
    ...(next.dialect === 'foundries' ? [expiresFormatRule(next)] : []),
    ...structuralRules(next, opts),
    ...signatureRules(trusted, next, opts),
  ]);
}

/** A trust anchor (usually version 1): the structural rules and its own threshold, no version rule. */
export function verifySelfSigned(root: Root, opts: VerifyOptions): VerifyReport {
  return report(root, [
    typeRule(undefined, root),
    expiryRule(root, opts.now, opts.checkExpiry ?? true),
    ...(root.dialect === 'foundries' ? [expiresFormatRule(root)] : []),
    ...structuralRules(root, opts),
    ...signatureRules(undefined, root, opts),
  ]);
}
