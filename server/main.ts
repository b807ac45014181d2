#!/usr/bin/env node
/** Process entry: the only place that reads argv and env, and sets the exit status. */
import { runCli } from './cli.js';

const code = await runCli(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
  cwd: process.cwd(),
});
if (code !== -1) process.exitCode = code;
