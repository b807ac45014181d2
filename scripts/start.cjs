#!/usr/bin/env node
/**
 * `npm start [-- OPTIONS]`: builds only if the sources changed since the last build, then runs
 * `tuf-rotate serve OPTIONS` in this same process (no second Node start). CommonJS, and the check
 * is synchronous (read the stamp, one stat per source file and folder; scripts/fingerprint.cjs), so
 * a start with nothing changed costs a few milliseconds on top of `serve` besides npm's own start.
 */
'use strict';
const path = require('node:path');
const { upToDateSync, ROOT } = require('./fingerprint.cjs');

function serve() {
  process.argv.splice(2, 0, 'serve');
  require(path.join(ROOT, 'dist', 'server', 'main.js'));
}

if (upToDateSync()) serve();
else {
  import('./build-if-changed.mjs').then(async ({ buildIfChanged }) => {
    await buildIfChanged();
    serve();
  });
}
