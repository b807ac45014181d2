/**
 * #14 "double periods ("exactly 3..", "trusts..")": a rule's message that ends its own sentence,
 * quoted inside another sentence, must not end in "..".
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { failedRules } from '../../server/ceremony.js';
import { cloneJson, type JsonObject } from '../../server/tuf/json.js';
import { parseRoot } from '../../server/tuf/metadata.js';
import { verifyRootUpdate } from '../../server/tuf/verify.js';
import { SHARED_FIXTURES } from '../helpers/assert-app-error.js';

describe('no double periods', () => {
  it('failedRules quotes each failing rule without its final period', () => {
    const v1 = parseRoot(readFileSync(new URL('foundries/root-v1.json', SHARED_FIXTURES)), 'v1');
    const v2 = parseRoot(readFileSync(new URL('foundries/root-v2.json', SHARED_FIXTURES)), 'v2');
    const doc = { signatures: v2.signatures, signed: cloneJson(v2.signedJson) } as unknown as JsonObject;
    (doc['signed'] as JsonObject)['version'] = 3; // skips a version: "it must be exactly 2."
    const report = verifyRootUpdate(v1, parseRoot(doc, 'v3'), { now: new Date('2025-01-02T00:00:00Z') });
    assert.equal(report.ok, false);
    const versionRule = report.results.find((r) => r.rule === 'version');
    assert.match(versionRule?.message ?? '', /exactly 2\.$/);
    const sentence = `The new root does not pass the client rules: ${failedRules(report)}.`;
    assert.match(sentence, /exactly 2[;.]/);
    assert.doesNotMatch(sentence, /[^.]\.\.(?!\.)/);
  });
});
