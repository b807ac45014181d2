/**
 * `npm start`: the build check (scripts/fingerprint.cjs) says "rebuild" after every kind of source
 * change and "up to date" otherwise, on a temporary tree; and a real `npm start` with nothing
 * changed serves at once (no build), prints its URL, and ends with Ctrl-C (SIGINT to its process
 * group, as a terminal sends it), releasing the work folder. The second part needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

interface Snapshot {
  v: number;
  dirs: Record<string, number | null>;
  files: Record<string, [number, number] | null>;
}
interface Fingerprint {
  ROOT: string;
  STAMP: string;
  OUTPUTS: string[];
  SOURCE_FILES: string[];
  snapshotSync: (root?: string) => Snapshot;
  writeStampSync: (snap: Snapshot, root?: string) => void;
  upToDateSync: (root?: string) => boolean;
}
const fp = createRequire(import.meta.url)('../../scripts/fingerprint.cjs') as Fingerprint;

const temps: string[] = [];
after(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** A small project tree with sources, the single files and the build outputs, built (stamp written) an hour ago. */
function builtTree(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'tuf-rotate-start-'));
  temps.push(root);
  const write = (rel: string, text: string): void => {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  };
  write('server/main.ts', 'export {};\n');
  write('server/cli/run.ts', 'export const run = 1;\n');
  write('shared/errors.ts', 'export {};\n');
  write('web/App.svelte', '<h1>x</h1>\n');
  for (const f of fp.SOURCE_FILES) write(f, '{}\n');
  for (const f of fp.OUTPUTS) write(f, '//\n');
  // Sources an hour old, so that a change made now always has another mtime.
  const past = new Date(Date.now() - 3_600_000);
  for (const rel of ['server/main.ts', 'server/cli/run.ts', 'shared/errors.ts', 'web/App.svelte', ...fp.SOURCE_FILES, 'server/cli', 'server', 'shared', 'web']) {
    utimesSync(path.join(root, rel), past, past);
  }
  fp.writeStampSync(fp.snapshotSync(root), root);
  return root;
}

describe('the build check of npm start', () => {
  it('is up to date right after a build, and stays so', () => {
    const root = builtTree();
    assert.equal(fp.upToDateSync(root), true);
    assert.equal(fp.upToDateSync(root), true);
  });

  const changes: { name: string; change: (root: string) => void }[] = [
    { name: 'a source edited (new size)', change: (r) => writeFileSync(path.join(r, 'server/cli/run.ts'), 'export const run = 22;\n') },
    {
      name: 'a source saved with the same size (new mtime only)',
      change: (r) => writeFileSync(path.join(r, 'server/cli/run.ts'), 'export const run = 2;\n'),
    },
    { name: 'a source added', change: (r) => writeFileSync(path.join(r, 'shared/new.ts'), 'export {};\n') },
    { name: 'a source removed', change: (r) => unlinkSync(path.join(r, 'shared/errors.ts')) },
    {
      name: 'a folder with a source added',
      change: (r) => {
        mkdirSync(path.join(r, 'server/routes'));
        writeFileSync(path.join(r, 'server/routes/x.ts'), 'export {};\n');
      },
    },
    { name: 'package-lock.json changed', change: (r) => writeFileSync(path.join(r, 'package-lock.json'), '{"lockfileVersion":3}\n') },
    { name: 'a build script changed', change: (r) => writeFileSync(path.join(r, 'scripts/build.mjs'), '// new\n') },
    { name: 'a build output missing', change: (r) => unlinkSync(path.join(r, 'dist/web/index.html')) },
    { name: 'no stamp', change: (r) => unlinkSync(path.join(r, fp.STAMP)) },
    { name: "the former stamp's format (one hash)", change: (r) => writeFileSync(path.join(r, fp.STAMP), 'ab'.repeat(32) + '\n') },
  ];
  for (const { name, change } of changes) {
    it(`asks for a build after: ${name}`, () => {
      const root = builtTree();
      change(root);
      assert.equal(fp.upToDateSync(root), false);
    });
  }

  it("is up to date after an editor's swap file came and went, and takes the folders' new times into the stamp", () => {
    const root = builtTree();
    const swap = path.join(root, 'server/cli/.run.ts.swp');
    writeFileSync(swap, 'x');
    assert.equal(fp.upToDateSync(root), true, 'with the swap file');
    unlinkSync(swap);
    assert.equal(fp.upToDateSync(root), true, 'after it went');
    const stamp = JSON.parse(readFileSync(path.join(root, fp.STAMP), 'utf8')) as Snapshot;
    assert.equal(stamp.dirs['server/cli'], statSync(path.join(root, 'server/cli')).mtimeMs);
    // And a real change after that still counts.
    writeFileSync(path.join(root, 'web/App.svelte'), '<h1>changed</h1>\n');
    assert.equal(fp.upToDateSync(root), false);
  });
});

describe('npm start with nothing changed', () => {
  const main = path.join(fp.ROOT, 'dist', 'server', 'main.js');
  const built = existsSync(main) && fp.upToDateSync();
  it('serves without building, prints its URL, and ends cleanly on Ctrl-C', { skip: built ? false : 'needs an up-to-date `npm run build`' }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tuf-rotate-npm-start-'));
    temps.push(dir);
    const made = spawnSync(process.execPath, [main, 'practice', path.join(dir, 'p'), '--key-type', 'ed25519', '--json'], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const repo = (JSON.parse(made.stdout.trim().split('\n').pop() ?? '{}') as { target: string }).target;
    const work = path.join(dir, 'work');
    const appMtime = statSync(path.join(fp.ROOT, 'dist/server/app.js')).mtimeMs;

    // As a user types it (npm's banner and all), in the package folder; its own process group,
    // so that SIGINT reaches npm and the server together as a terminal's Ctrl-C does.
    const child = spawn('npm', ['start', '--', '--repo', repo, '--work', work, '--port', '0'], {
      cwd: fp.ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /serving on (http:\/\/127\.0\.0\.1:\d+\/#token=\S+)/.exec(out);
        if (m) resolve(m[1] as string);
      });
      void exited.then(() => reject(new Error(`npm start ended before its URL: ${out}${err}`)));
    });
    const origin = new URL(url).origin;
    assert.equal((await fetch(origin + '/')).status, 200);
    assert.ok(existsSync(path.join(work, 'lock')), 'serve holds the work folder');
    assert.doesNotMatch(err, /building/, 'nothing was rebuilt');
    assert.equal(statSync(path.join(fp.ROOT, 'dist/server/app.js')).mtimeMs, appMtime, 'dist untouched');

    process.kill(-(child.pid as number), 'SIGINT');
    await exited;
    // Every process of the group is gone (npm, and the server it started) and the lock is released.
    const left = (): number[] => {
      const pids: number[] = [];
      for (const d of readdirProc()) {
        try {
          const st = readFileSync(`/proc/${d}/stat`, 'utf8');
          if (Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[2]) === child.pid) pids.push(Number(d));
        } catch {
          // gone meanwhile
        }
      }
      return pids;
    };
    for (let i = 0; i < 300 && left().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(left(), [], 'no process of npm start left');
    assert.equal(existsSync(path.join(work, 'lock')), false, 'the work folder lock is released');
    await assert.rejects(fetch(origin + '/'), 'the port is closed');
  });
});

function readdirProc(): string[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d));
}
