import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERROR_CODES } from '../../shared/errors.js';
import { STATUS } from '../../server/errors.js';

describe('error codes', () => {
  it('maps every code to a 4xx or 5xx status', () => {
    for (const code of ERROR_CODES) {
      const s = STATUS[code];
      assert.ok(s >= 400 && s < 600, code);
    }
  });
});
