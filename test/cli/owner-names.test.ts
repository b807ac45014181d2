import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { addPracticeUsers } from '../../server/practice/create.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import { SHARED_FIXTURES } from '../helpers/assert-app-error.js';
import { cli } from '../helpers/cli.js';

const FIXTURE_POLIS = '00000000-0000-4000-8000-000000000001';

describe('the CLI names key owners from the Factory users (rotate, diff --factory)', () => {
  let tmp: string;
  let app: FastifyInstance | undefined;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-cli-owners-'));
  });
  after(async () => {
    await app?.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('rotate --factory --dry-run: the single-owner warning, the owner line and the changelog author by name', async () => {
    const dir = path.join(tmp, 'f');
    const made = await cli(['practice', dir, '--dialect', 'foundries', '--key-type', 'ed25519', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const { factory, archive, tokenFile } = made.json() as { factory: string; archive: string; tokenFile: string };
    const users = await addPracticeUsers(dir, ['admin-b']);
    const polis = users[0]?.polisId ?? '';
    app = await buildPracticeFactory(dir);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const target = ['--factory', factory, '--api-url', url, '--token-file', tokenFile];

    const r = await cli(['rotate', ...target, '--keys', archive, '--dry-run', '--work', path.join(tmp, 'work')]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const label = `Practice Owner (polis-id ${polis.slice(0, 8)})`;
    assert.match(r.stdout, new RegExp(`^! warning: Every root key \\([0-9a-f]{8}\\) belongs to ${label.replace(/[()]/g, '\\$&')}: `, 'm'));
    assert.match(r.stdout, new RegExp(`^owner \\+ [0-9a-f]{64}: ${label.replace(/[()]/g, '\\$&')}, added `, 'm'));
    assert.match(r.stdout, new RegExp(`^changelog: none -> "Rotate TUF root offline signing key" \\(by ${label.replace(/[()]/g, '\\$&')}, `, 'm'));
    assert.ok(!r.stdout.includes(polis), 'the polis UUID itself is not printed');
    // #14: an unchanged threshold is said so, not "threshold 1 -> 1".
    assert.match(r.stdout, /^role root: threshold 1 \(unchanged\)$/m);
    assert.doesNotMatch(r.stdout, /threshold (\d+) -> \1\b/);

    // diff of two root files: by polis-id alone; with --factory, this Factory does not know the fixture's owner.
    const v1 = fileURLToPath(new URL('foundries/root-v1.json', SHARED_FIXTURES));
    const v2 = fileURLToPath(new URL('foundries/root-v2.json', SHARED_FIXTURES));
    const plain = await cli(['diff', v1, v2]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, new RegExp(`belongs to polis-id ${FIXTURE_POLIS}: `));
    const named = await cli(['diff', v1, v2, ...target]);
    assert.equal(named.code, 0, named.stderr);
    assert.match(named.stdout, new RegExp(`belongs to polis-id ${FIXTURE_POLIS} \\(user not known to this Factory\\): `));
    assert.match(named.stdout, new RegExp(`^owner \\+ [0-9a-f]{64}: polis-id ${FIXTURE_POLIS} \\(user not known to this Factory\\), added `, 'm'));
  });
});
