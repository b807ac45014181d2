#!/usr/bin/env node
/**
 * `npm run build`: the server and CLI as one CommonJS bundle (dist/server/main.js, with a
 * package.json beside it that says so), the page with Vite (dist/web),
 * then the stamp that scripts/build-if-changed.mjs compares. Type checking is `npm run check`.
 *
 * Why a CommonJS bundle: a command loads one file instead of dozens of ES modules, and the Node
 * built-ins it uses are `require`d, so `node:fs` does not pull in every stream class as its ES
 * module facade does. The server's packages go into a second file, vendor.cjs, loaded by `serve`
 * only; other packages (`createRequire`d at run time) stay in node_modules.
 */
import process from 'node:process';
import { setTimeout, clearTimeout } from 'node:timers';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, STAMP, snapshotSync, writeStampSync } from './fingerprint.mjs';

/** Packages bundled into dist/server/vendor.cjs → their property name there. */
const VENDOR = { fastify: 'fastify', '@fastify/static': 'fastifyStatic' };

export async function build({ quiet = false } = {}) {
  // Taken before anything is built: a source edited during the build makes the next start build again.
  const sources = snapshotSync();
  await fs.rm(path.join(ROOT, STAMP), { force: true });
  const esbuild = await import('esbuild');
  const outDir = path.join(ROOT, 'dist', 'server');
  await fs.rm(outDir, { recursive: true, force: true });
  await fs.rm(path.join(ROOT, 'dist', 'shared'), { recursive: true, force: true }); // left by the former tsc build
  // The packages the server imports, bundled once into vendor.cjs (each loaded on first use), so
  // `serve` does not resolve and read a few hundred files from node_modules at every start.
  const vendorNames = Object.keys(VENDOR);
  await esbuild.build({
    absWorkingDir: ROOT,
    stdin: {
      contents: 'module.exports = {\n' + vendorNames.map((n) => `  get ${VENDOR[n]}() { return require(${JSON.stringify(n)}); },`).join('\n') + '\n};\n',
      resolveDir: ROOT,
      sourcefile: 'vendor-entry.cjs',
      loader: 'js',
    },
    outfile: 'dist/server/vendor.cjs',
    bundle: true,
    minify: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    legalComments: 'none',
    logLevel: 'warning',
  });
  const vendorPlugin = {
    name: 'vendor',
    setup(b) {
      const filter = new RegExp(`^(${vendorNames.map((n) => n.replace(/[/.]/g, '\\$&')).join('|')})$`);
      b.onResolve({ filter }, (a) => ({ path: a.path, namespace: 'vendor' }));
      b.onResolve({ filter: /^\.\/vendor\.cjs$/ }, (a) => ({ path: a.path, external: true }));
      b.onLoad({ filter: /.*/, namespace: 'vendor' }, (a) => ({ contents: `module.exports = require('./vendor.cjs').${VENDOR[a.path]};`, loader: 'js' }));
    },
  };
  await esbuild.build({
    absWorkingDir: ROOT,
    plugins: [vendorPlugin],
    entryPoints: ['server/main.ts'],
    outfile: 'dist/server/app.js',
    minify: true,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
    // The bundle finds package.json and dist/web upward from its own place, as the sources do.
    define: { 'import.meta.url': '__tufRotateModuleUrl' },
    banner: { js: "const __tufRotateModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  });
  // dist/server holds CommonJS, whatever the package's "type" says: `node dist/server/main.js`
  // then starts without Node's ES module loader.
  await fs.writeFile(path.join(outDir, 'package.json'), '{ "type": "commonjs" }\n');
  const vite = await import('vite');
  await vite.build({ root: path.join(ROOT, 'web'), configFile: path.join(ROOT, 'vite.config.ts'), logLevel: quiet ? 'error' : 'info' });
  // dist/server/main.js runs app.js and vendor.cjs with a V8 code cache; one warm-up `serve` writes it.
  await fs.copyFile(path.join(ROOT, 'scripts', 'code-cache-loader.cjs'), path.join(outDir, 'main.js'));
  await fs.chmod(path.join(outDir, 'main.js'), 0o755);
  await writeCodeCache(outDir);
  writeStampSync(sources);
}

/**
 * Starts `serve` once with TUF_ROTATE_WRITE_CODE_CACHE=1 on an empty temporary repository, stops it
 * at its URL line; the loader then writes app.js.cache and vendor.cjs.cache. Without them (a failed
 * warm-up) main.js compiles as usual.
 */
async function writeCodeCache(outDir) {
  const os = await import('node:os');
  const { spawn } = await import('node:child_process');
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-build-'));
  try {
    await fs.mkdir(path.join(tmp, 'repo', 'metadata'), { recursive: true });
    await fs.writeFile(path.join(tmp, 'repo', 'metadata', 'root.json'), '{}\n');
    await new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(outDir, 'main.js'), 'serve', '--repo', path.join(tmp, 'repo'), '--work', path.join(tmp, 'work'), '--port', '0'], {
        env: { ...process.env, TUF_ROTATE_WRITE_CODE_CACHE: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let seen = '';
      const look = (d) => {
        seen += d;
        if (seen.includes('http://')) child.kill('SIGTERM');
      };
      child.stdout.on('data', look);
      child.stderr.on('data', look);
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await build({ quiet: process.argv.includes('--quiet') });
}
