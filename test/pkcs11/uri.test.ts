/** RFC 7512 URIs: what is accepted, what is refused (always with PKCS11_URI_INVALID), and no PIN echoed. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatPkcs11Uri, parsePkcs11Uri } from '../../server/signers/pkcs11-uri.js';
import { assertAppError } from '../helpers/assert-app-error.js';

describe('pkcs11: URIs', () => {
  it('parses token, object, id bytes, serial, type and module-path; formats them back in a fixed order', () => {
    const u = parsePkcs11Uri('pkcs11:token=YubiKey%20PIV%20%2312345678;id=%02;type=private;object=Private%20key?module-path=/usr/lib/x86_64-linux-gnu/libykcs11.so');
    assert.equal(u.token, 'YubiKey PIV #12345678');
    assert.deepEqual([...(u.id ?? [])], [2]);
    assert.equal(u.object, 'Private key');
    assert.equal(u.modulePath, '/usr/lib/x86_64-linux-gnu/libykcs11.so');
    assert.equal(formatPkcs11Uri(u), 'pkcs11:token=YubiKey%20PIV%20%2312345678;object=Private%20key;id=%02;type=private?module-path=/usr/lib/x86_64-linux-gnu/libykcs11.so');
    assert.deepEqual(parsePkcs11Uri(formatPkcs11Uri(u)), u);
  });

  it('refuses unknown and repeated attributes, bad escapes, non-private types and a PIN value', async () => {
    for (const bad of [
      'pkcs11:tokn=x',
      'pkcs11:token=a;token=b',
      'pkcs11:token=a%2',
      'pkcs11:token=a;;object=b',
      'pkcs11:token=a;type=cert',
      'pkcs11:token=a?module-path=relative.so',
      'pkcs11:token=a?pin-value=123456',
      'pkcs11:token=a b"c',
      'file:token=a',
    ]) {
      await assertAppError(() => parsePkcs11Uri(bad), 'PKCS11_URI_INVALID');
    }
    try {
      parsePkcs11Uri('pkcs11:token=a;object=b?pin-value=987654');
    } catch (e) {
      assert.ok(!(e as Error).message.includes('987654'));
    }
  });
});
