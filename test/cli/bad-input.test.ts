/**
 * The bad-input corpus at the command line: every bad archive (test/fixtures/bad-archives) and every
 * bad root below is refused with exit 2 and one sentence saying what is wrong and what to do; the
 * input files are unchanged afterwards (by hash) and no output file appears.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { SHARED_FIXTURES } from '../helpers/assert-app-error.js';
import { cli } from '../helpers/cli.js';

const fx = (p: string): string => fileURLToPath(new URL(p, SHARED_FIXTURES));
const BAD_ARCHIVES = fileURLToPath(new URL('../fixtures/bad-archives/', import.meta.url));
const sha = async (file: string): Promise<string> => createHash('sha256').update(await fs.readFile(file)).digest('hex');

const rootV1 = (): Record<string, unknown> => JSON.parse(JSON.stringify(ROOT_V1)) as Record<string, unknown>;
let ROOT_V1: unknown;

/** Bad roots, each a mutation of the real Foundries root-v1.json (or raw bytes). */
const BAD_ROOTS: { name: string; make: () => string | Buffer }[] = [
  { name: 'empty file', make: () => '' },
  { name: 'not JSON', make: () => '{"signed": ' },
  { name: 'binary garbage', make: () => Buffer.from([0x1f, 0x8b, 0, 1, 2, 3]) },
  { name: 'a JSON array', make: () => '[]' },
  { name: 'no signed', make: () => JSON.stringify({ signatures: [] }) },
  { name: 'unknown _type', make: () => mutate((s) => (s['_type'] = 'Targets')) },
  { name: 'version is a string', make: () => mutate((s) => (s['version'] = '1')) },
  { name: 'version is a float', make: () => mutate((s) => (s['version'] = 1.5)) },
  { name: 'expires not a date', make: () => mutate((s) => (s['expires'] = 'next year')) },
  { name: 'roles.root missing', make: () => mutate((s) => delete (s['roles'] as Record<string, unknown>)['root']) },
  { name: 'threshold not an integer', make: () => mutate((s) => (((s['roles'] as Record<string, Record<string, unknown>>)['root'] ?? {})['threshold'] = 'one')) },
  { name: 'keys not an object', make: () => mutate((s) => (s['keys'] = [])) },
  { name: 'signatures not an array', make: () => { const r = rootV1(); r['signatures'] = {}; return JSON.stringify(r); } },
  { name: 'over 1 MiB', make: () => mutate((s) => (s['padding'] = 'x'.repeat(1024 * 1024 + 1))) },
];

function mutate(f: (signed: Record<string, unknown>) => void): string {
  const r = rootV1();
  f(r['signed'] as Record<string, unknown>);
  return JSON.stringify(r);
}

function assertOneSentence(stderr: string): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got: ${stderr}`);
  assert.match(lines[0] ?? '', /^tuf-rotate: .+\. .+\.$/, 'a message and a hint');
  assert.doesNotMatch(stderr, /PRIVATE KEY|SECRET-DO-NOT-SHOW|\n\s+at /);
}

describe('bad input at the command line', () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-bad-'));
    ROOT_V1 = JSON.parse(await fs.readFile(fx('foundries/root-v1.json'), 'utf8'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('refuses every bad archive in the corpus with exit 2, leaving it unchanged', async () => {
    const cases = (await fs.readdir(BAD_ARCHIVES, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
    assert.ok(cases.length >= 14, `corpus has ${cases.length} archives`);
    for (const name of cases) {
      const keys = path.join(BAD_ARCHIVES, name, 'keys.tgz');
      const expected = JSON.parse(await fs.readFile(path.join(BAD_ARCHIVES, name, 'expected.json'), 'utf8')) as { root?: string };
      const root = fx(`foundries/${(expected.root ?? 'shared:root-v1.json').replace(/^shared:/, '')}`);
      const before = await sha(keys);
      const out = path.join(tmp, `${name}.tgz`);
      const r = await cli(['rotate', '--keys', keys, '--root', root, '--out-root', path.join(tmp, `${name}.json`), '--out', out]);
      assert.equal(r.code, 2, `${name}: exit ${r.code}, ${r.stderr}`);
      assertOneSentence(r.stderr);
      assert.equal(await sha(keys), before, `${name} unchanged`);
      await assert.rejects(fs.stat(out), `${name}: no output archive`);
    }
  });

  for (const c of BAD_ROOTS) {
    it(`refuses a bad root: ${c.name}`, async () => {
      const file = path.join(tmp, `${c.name.replace(/\W+/g, '-')}.json`);
      await fs.writeFile(file, c.make());
      const before = await sha(file);
      const out = path.join(tmp, 'never.tgz');
      const r = await cli(['rotate', '--keys', fx('foundries/offline-keys.v1.tgz'), '--root', file, '--out-root', path.join(tmp, 'never.json'), '--out', out]);
      assert.equal(r.code, 2, r.stderr);
      assertOneSentence(r.stderr);
      const v = await cli(['verify', '--trusted', file, fx('foundries/root-v2.json')]);
      assert.equal(v.code, 2, v.stderr);
      assert.equal(await sha(file), before);
      await assert.rejects(fs.stat(out));
    });
  }

  it('refuses bad usage with exit 2', async () => {
    for (const args of [['rotate'], ['rotate', '--keys'], ['rotate', '--bogus', 'x'], ['diff', 'one.json'], ['frobnicate'], ['rotate', '--keys', 'k.tgz', '--out', 'o.tgz', '--repo', 'a', '--root', 'b'], ['rotate', '--keys', 'k.tgz', '--out', 'o.tgz', '--repo', 'r', '--expires', '0']]) {
      const r = await cli(args, { cwd: tmp });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assertOneSentence(r.stderr);
    }
  });

  it('exits 1 when a check fails: a root chain that skips a version', async () => {
    const r = await cli(['verify', '--trusted', fx('foundries/root-v1.json'), fx('foundries/cases/version-skip.json')]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /FAIL.*version/);
  });
});
