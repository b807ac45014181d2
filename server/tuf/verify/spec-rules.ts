/**
 * The rule only strict clients of the TUF specification hold (tough): every key ID is the hash of
 * its key object.
 */
import type { Root, RuleResult, RuleSource } from '../model.js';
import { keyIdSpec } from '../public-key.js';
import { list, result } from './common.js';

export function keyIdHashRule(next: Root): RuleResult {
  const who: RuleSource[] = ['strict-clients'];
  const bad: string[] = [];
  for (const [id, key] of Object.entries(next.keys)) {
    let computed: string | undefined;
    try {
      computed = keyIdSpec(key.json);
    } catch {
      computed = undefined;
    }
    if (computed !== id) bad.push(id);
  }
  if (bad.length > 0) {
    return result(
      'keyid-hash',
      'warn',
      `In version ${next.version}, key ${list(bad)} is listed under a key ID that is not the hash of its key object; tuf-js and python-tuf accept that, stricter clients (tough) refuse it.`,
      next.version,
      who,
      `key ID ${list(bad)} is not the hash of its key`,
    );
  }
  return result('keyid-hash', 'pass', 'Every key ID is the SHA-256 of its key object.', next.version, who);
}
