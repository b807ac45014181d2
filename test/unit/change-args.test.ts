import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertAppError } from '../helpers/assert-app-error.js';
import { parseChanges } from '../../server/cli/change-args.js';
import { changeArgs } from '../../server/change-keys.js';

describe('tuf-rotate change: the CHANGE words', () => {
  it('reads optional values, and --owner/--key-file belong to the --add-key before them', () => {
    const argv = ['change', '--repo', 'r', '--add-key', 'root', '--owner', 'bob', '--refresh-expiry', '--add-key=targets', '--key-file', 'k.pem',
      '--rotate-online-keys', 'snapshot,timestamp', '--threshold', 'root=2', '--refresh-expiry', '--json'];
    const { asked, argv: rest } = parseChanges(argv);
    assert.deepEqual(asked, [
      { kind: 'add-key', role: 'root', owner: 'bob' },
      { kind: 'refresh-expiry' },
      { kind: 'add-key', role: 'targets', keyFile: 'k.pem' },
      { kind: 'rotate-online-keys', roles: ['snapshot', 'timestamp'] },
      { kind: 'threshold', role: 'root', threshold: 2 },
      { kind: 'refresh-expiry' },
    ]);
    assert.ok(rest.includes('--json') && rest.includes('--repo'));
    assert.deepEqual(parseChanges(['change', '--refresh-expiry', '90', '--rotate-online-keys', '--keys', 'a.tgz']).asked, [
      { kind: 'refresh-expiry', days: 90 },
      { kind: 'rotate-online-keys', roles: [] },
    ]);
  });

  it('refuses what it cannot read', async () => {
    await assertAppError(() => parseChanges(['change', '--owner', 'bob']), 'BAD_USAGE');
    await assertAppError(() => parseChanges(['change', '--threshold', 'root']), 'BAD_USAGE');
    await assertAppError(() => parseChanges(['change', '--threshold', 'root=0']), 'BAD_USAGE');
    await assertAppError(() => parseChanges(['change', '--rotate-key', 'mirror']), 'BAD_USAGE');
    await assertAppError(() => parseChanges(['change', '--rotate-online-keys', 'root']), 'BAD_USAGE');
  });

  it('changeArgs writes the same words back (the page shows them)', () => {
    const argv = ['--add-key', 'root', '--owner', 'bob', '--threshold', 'root=2', '--refresh-expiry', '30', '--rotate-online-keys', 'timestamp'];
    assert.deepEqual(changeArgs(parseChanges(['change', ...argv]).asked), argv);
  });
});
