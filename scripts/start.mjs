#!/usr/bin/env node
/**
 * `npm start [-- OPTIONS]`: builds only if the sources changed since the last build, then runs
 * `tuf-rotate serve OPTIONS` in this same process (no second Node start).
 */
import process from 'node:process';
import { createRequire } from 'node:module';
import { buildIfChanged } from './build-if-changed.mjs';

await buildIfChanged();
process.argv.splice(2, 0, 'serve');
createRequire(import.meta.url)('../dist/server/main.js');
