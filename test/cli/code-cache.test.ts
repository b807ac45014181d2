/**
 * The built entry (dist/server/main.js) runs the bundle through the V8 code cache the build wrote
 * (scripts/code-cache-loader.cjs): the caches exist, V8 accepts them, and the CLI works through
 * the loader. Needs `npm run build` first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'server');

test('the build writes a code cache V8 accepts for app.js and vendor.cjs', () => {
  for (const name of ['app.js', 'vendor.cjs']) {
    const file = path.join(DIST, name);
    let source = readFileSync(file, 'utf8');
    if (source.startsWith('#!')) source = '//' + source.slice(2);
    // The same wrapper and file name as the loader: V8 checks the source against the cache.
    const script = new vm.Script('(function (exports, require, module, __filename, __dirname) {' + source + '\n})', {
      filename: file,
      cachedData: readFileSync(file + '.cache'),
    });
    assert.equal(script.cachedDataRejected, false, `${name}.cache rejected`);
  }
});

test('the CLI runs through the loader', () => {
  const r = spawnSync(process.execPath, [path.join(DIST, 'main.js'), '--version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^tuf-rotate \d+\.\d+\.\d+/);
});
