#!/usr/bin/env node
// Runs the built CLI (npm run build writes dist/).
await import('../dist/server/main.js');
