import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SHARED_FIXTURES } from '../../helpers/assert-app-error.js';
import { diffRoots } from '../../../server/tuf/diff.js';
import { parseRoot } from '../../../server/tuf/metadata.js';
import type { Root } from '../../../server/tuf/model.js';
import { cleanUserName, directoryFromList, directoryOfSelf, MAX_NAME_CHARS, NOT_KNOWN, ownerName } from '../../../server/tuf/owner-names.js';
import { formatDiff } from '../../../server/cli/format.js';

function fixture(rel: string): Root {
  return parseRoot(readFileSync(new URL(rel, SHARED_FIXTURES)), rel);
}

const v1 = fixture('foundries/root-v1.json');
const v2 = fixture('foundries/root-v2.json');
/** The owner of the new root key in root-v2.json's x-key-owners. */
const POLIS = '00000000-0000-4000-8000-000000000001';
const NOW = new Date('2025-01-02T00:00:00Z');

describe('owner names', () => {
  it('shows "Name (polis-id short)" for a user the Factory lists', () => {
    const users = directoryFromList([{ 'polis-id': POLIS, name: 'Ada Lovelace', role: 'admin' }, { 'polis-id': 'x', name: 'B' }]);
    assert.deepEqual(ownerName(POLIS, users), { polisId: POLIS, name: 'Ada Lovelace', label: 'Ada Lovelace (polis-id 00000000)' });
  });

  it('says plainly when the Factory does not know the user, and shows the whole polis-id', () => {
    const users = directoryOfSelf({ polisId: 'someone-else', name: 'Me' });
    assert.deepEqual(ownerName(POLIS, users), { polisId: POLIS, label: `polis-id ${POLIS} (${NOT_KNOWN})` });
    assert.equal(ownerName('someone-else', users).label, 'Me (polis-id someone-)');
  });

  it('without a Factory to ask, shows the polis-id alone', () => {
    assert.deepEqual(ownerName(POLIS, undefined), { polisId: POLIS, label: `polis-id ${POLIS}` });
  });

  it('cleans user-typed names: control, format and bidi characters, brackets, markup, length', () => {
    assert.equal(cleanUserName('  José  O’Brien-Smith '), 'José O’Brien-Smith');
    assert.equal(cleanUserName('Eve\u202E\u0007\n<script>x</script>'), 'Eve script x script');
    assert.equal(cleanUserName('\u001b[31mRed\u001b[0m'), '31mRed 0m');
    assert.equal(cleanUserName('Bob (polis-id 0000)'), 'Bob polis-id 0000');
    assert.equal(cleanUserName('   '), undefined);
    const long = cleanUserName('Xyz'.repeat(70));
    assert.equal([...(long ?? '')].length, MAX_NAME_CHARS);
    assert.ok(long?.endsWith('…'));
  });

  it('never lets a name pass for a key ID or digest', () => {
    assert.equal(cleanUserName('685c4168'), undefined);
    assert.equal(cleanUserName('key 685c4168da58d088'), undefined);
    assert.equal(cleanUserName('DEADBEEF'), undefined);
    const users = directoryFromList([{ 'polis-id': POLIS, name: '685c4168' }]);
    const n = ownerName(POLIS, users);
    assert.equal(n.name, undefined);
    assert.ok(n.label.startsWith(`polis-id ${POLIS} (`) && !n.label.includes('685c4168'));
  });

  it('accepts only a JSON array of users as a list', () => {
    assert.equal(directoryFromList({ 'polis-id': POLIS }), undefined);
    assert.equal(directoryFromList(undefined), undefined);
    assert.equal(directoryFromList([{ 'polis-id': POLIS, name: 7 }, null, 'x'])?.names.size, 0);
  });

  it('the single-owner warning and the diff name the owner; the CLI diff prints the owner lines', () => {
    const users = directoryFromList([{ 'polis-id': POLIS, name: 'Ada Lovelace' }]);
    const d = diffRoots(v1, v2, { now: NOW, users });
    const w = d.warnings.find((x) => x.code === 'SINGLE_HOLDER');
    assert.ok(w?.message.includes('belongs to Ada Lovelace (polis-id 00000000)'), w?.message);
    assert.ok(!w?.message.includes(POLIS));
    assert.equal(d.owners[0]?.to?.label, 'Ada Lovelace (polis-id 00000000)');
    assert.match(formatDiff(d), /^owner \+ 685c4168[0-9a-f]{56}: Ada Lovelace \(polis-id 00000000\), added /m);
    // The changelog's author too (x-changelog polis-id).
    assert.match(formatDiff(d), /^changelog: none -> "Rotate TUF root offline signing key" \(by Ada Lovelace \(polis-id 00000000\), 2025-/m);

    const unknown = diffRoots(v1, v2, { now: NOW, users: directoryOfSelf({ polisId: 'me', name: 'Me' }) });
    assert.ok(unknown.warnings.some((x) => x.code === 'SINGLE_HOLDER' && x.message.includes(`polis-id ${POLIS} (${NOT_KNOWN})`)));
    const plain = diffRoots(v1, v2, { now: NOW });
    assert.ok(plain.warnings.some((x) => x.code === 'SINGLE_HOLDER' && x.message.includes(`belongs to polis-id ${POLIS}:`)));
  });
});
