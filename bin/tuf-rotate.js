#!/usr/bin/env node
// Runs the built CLI (npm run build writes dist/server/main.js, one CommonJS bundle).
import { createRequire } from 'node:module';

createRequire(import.meta.url)('../dist/server/main.js');
