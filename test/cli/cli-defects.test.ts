/**
 * The command line as a new user meets it: every command's --help, `help` against the README's
 * "Command line" block, missing paths refused with exit 2 before anything starts, and publishing a
 * root that is already published (a re-run) said so with exit 0. Real files, real repositories.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { COMMANDS } from '../../server/cli/run.js';
import { cli } from '../helpers/cli.js';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));

/** The README's "Command line" code block: command name → the options its lines name. */
async function readmeCommands(): Promise<Map<string, Set<string>>> {
  const text = await fs.readFile(README, 'utf8');
  const section = text.split(/^## Command line\s*$/m)[1] ?? '';
  const block = /```\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const out = new Map<string, Set<string>>();
  let current: Set<string> | undefined;
  for (const line of block.split('\n')) {
    const code = line.replace(/#.*$/, '');
    const m = /^tuf-rotate\s+([a-z-]+)/.exec(code);
    if (m?.[1] !== undefined) {
      // The `help` line is the dispatcher's, not a command's.
      // A command may have several lines (publish --repo, publish --factory): one set of options.
      current = m[1] === 'help' ? undefined : (out.get(m[1]) ?? new Set());
      if (current) out.set(m[1], current);
    }
    for (const opt of code.matchAll(/--[a-z][a-z-]*/g)) current?.add(opt[0]);
  }
  return out;
}

/** The options a usage names, leaving out its prose lines ("  Signs and…", "  apply=503 … publish --factory"), which may mention another command's option. */
const optionsIn = (usage: string): Set<string> =>
  new Set(
    usage
      .split('\n')
      .filter((l) => !/^\s+([A-Z][a-z]|[a-z]+=)/.test(l))
      .flatMap((l) => [...l.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0])),
  );

describe('help on every command', () => {
  for (const name of Object.keys(COMMANDS)) {
    it(`${name} --help exits 0 with its own usage`, async () => {
      for (const argv of [[name, '--help'], [name, '-h'], ['help', name]]) {
        const r = await cli(argv);
        assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
        assert.equal(r.stderr, '');
        assert.ok(r.stdout.includes(`tuf-rotate ${name} `), `${argv.join(' ')} prints its usage line`);
        assert.ok(r.stdout.includes(COMMANDS[name]?.usage ?? '\0'), `${argv.join(' ')} prints the usage of ${name}`);
        for (const other of Object.keys(COMMANDS).filter((o) => o !== name)) {
          assert.ok(!new RegExp(`^tuf-rotate ${other} `, 'm').test(r.stdout), `${argv.join(' ')} does not print ${other}'s usage`);
        }
      }
    });
  }

  it('help lists the same commands as the README, each with the same options', async () => {
    const r = await cli(['help']);
    assert.equal(r.code, 0);
    const listed = r.stdout
      .split('\n')
      .map((l) => /^ {2}([a-z-]+) {2}/.exec(l)?.[1])
      .filter((x): x is string => x !== undefined);
    const readme = await readmeCommands();
    assert.deepEqual([...listed].sort(), [...readme.keys()].sort(), 'help and README name the same commands');
    for (const name of listed) {
      const helpOptions = optionsIn(COMMANDS[name]?.usage ?? '');
      const readmeOptions = readme.get(name) ?? new Set();
      assert.deepEqual([...readmeOptions].sort(), [...helpOptions].sort(), `README and help list the same options for ${name}`);
    }
  });

  it('an unknown command in help is bad usage (exit 2)', async () => {
    const r = await cli(['help', 'no-such-command']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown command "no-such-command"/);
  });
});

describe('missing paths and re-runs', () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-cli-defects-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('serve --repo of a folder that does not exist is refused with exit 2 before starting', async () => {
    const missing = path.join(tmp, 'no-such-repo');
    const r = await cli(['serve', '--repo', missing, '--port', '0']);
    assert.equal(r.code, 2, r.stderr);
    assert.doesNotMatch(r.stdout, /serving on/);
    assert.match(r.stderr, /no-such-repo/);
  });

  it('serve --repo of a folder that is not a TUF repository is refused with exit 2', async () => {
    const empty = path.join(tmp, 'empty');
    await fs.mkdir(empty);
    const r = await cli(['serve', '--repo', empty, '--port', '0']);
    assert.equal(r.code, 2, r.stderr);
    assert.doesNotMatch(r.stdout, /serving on/);
  });

  it('status of a folder that does not exist exits 2', async () => {
    const missing = path.join(tmp, 'no-such-folder');
    const r = await cli(['status', missing]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /no-such-folder/);
    const j = await cli(['status', missing, '--json']);
    assert.equal(j.code, 2);
    assert.equal(j.json()['ok'], false);
  });

  it('publishing the root that is already published says so and exits 0; the repository is unchanged', async () => {
    const dir = path.join(tmp, 'pub');
    const made = await cli(['practice', dir, '--dialect', 'spec', '--key-type', 'ed25519', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const { target: repo, archive } = made.json() as { target: string; archive: string };
    // Sign version 2 offline against a copy of version 1, then publish it to the repository.
    const newRoot = path.join(dir, 'new-root.json');
    const signed = await cli(['rotate', '--keys', archive, '--out', path.join(dir, 'new-keys.tgz'), '--root', path.join(repo, 'metadata', '1.root.json'), '--out-root', newRoot]);
    assert.equal(signed.code, 0, signed.stderr);
    const first = await cli(['publish', '--root', newRoot, '--repo', repo]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /Root version 2 published/);
    const listing = await fs.readdir(path.join(repo, 'metadata'));
    const bytes = await fs.readFile(path.join(repo, 'metadata', 'root.json'));

    const again = await cli(['publish', '--root', newRoot, '--repo', repo]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already published/);
    assert.doesNotMatch(again.stdout + again.stderr, /does not follow/);
    const json = await cli(['publish', '--root', newRoot, '--repo', repo, '--json']);
    assert.equal(json.code, 0);
    assert.equal(json.json()['alreadyPublished'], true);
    assert.equal(json.json()['version'], 2);
    assert.deepEqual(await fs.readdir(path.join(repo, 'metadata')), listing);
    assert.deepEqual(await fs.readFile(path.join(repo, 'metadata', 'root.json')), bytes);

    // A different root with the same version is still refused (exit 1), not taken as "already published".
    const other = JSON.parse(await fs.readFile(newRoot, 'utf8')) as { signed: { expires: string } };
    other.signed.expires = '2099-01-01T00:00:00Z';
    const otherFile = path.join(dir, 'other-root.json');
    await fs.writeFile(otherFile, JSON.stringify(other));
    const refused = await cli(['publish', '--root', otherFile, '--repo', repo]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.doesNotMatch(refused.stdout, /already published/);
  });
});
