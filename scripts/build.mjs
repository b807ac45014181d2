#!/usr/bin/env node
/**
 * `npm run build`: the server and CLI as one CommonJS bundle (dist/server/main.cjs, with
 * dist/server/main.js beside it for `node dist/server/main.js`), the page with Vite (dist/web),
 * then the stamp that scripts/build-if-changed.mjs compares. Type checking is `npm run check`.
 *
 * Why a CommonJS bundle: a command loads one file instead of dozens of ES modules, and the Node
 * built-ins it uses are `require`d, so `node:fs` does not pull in every stream class as its ES
 * module facade does. Packages in node_modules stay outside the bundle.
 */
import process from 'node:process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fingerprint, STAMP } from './build-if-changed.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export async function build({ quiet = false } = {}) {
  const sources = await fingerprint();
  await fs.rm(path.join(ROOT, STAMP), { force: true });
  const esbuild = await import('esbuild');
  const outDir = path.join(ROOT, 'dist', 'server');
  await fs.rm(outDir, { recursive: true, force: true });
  await fs.rm(path.join(ROOT, 'dist', 'shared'), { recursive: true, force: true }); // left by the former tsc build
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: ['server/main.ts'],
    outfile: 'dist/server/main.cjs',
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
  await fs.writeFile(
    path.join(outDir, 'main.js'),
    "// `node dist/server/main.js`: runs the bundled CLI (main.cjs), written by scripts/build.mjs.\n" +
      "import { createRequire } from 'node:module';\n\ncreateRequire(import.meta.url)('./main.cjs');\n",
  );
  const vite = await import('vite');
  await vite.build({ root: path.join(ROOT, 'web'), configFile: path.join(ROOT, 'vite.config.ts'), logLevel: quiet ? 'warn' : 'info' });
  await fs.writeFile(path.join(ROOT, STAMP), sources + '\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await build({ quiet: process.argv.includes('--quiet') });
}
