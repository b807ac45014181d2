#!/usr/bin/env node
/** Process entry: the only place that reads argv and env, and sets the exit status. */
import type { ReadStream } from 'node:tty';
import { secretPrompt } from './cli/prompt.js';
import { runCli } from './cli/run.js';

// No top-level await: the build bundles this file as CommonJS (scripts/build.mjs).
void runCli(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
  cwd: process.cwd(),
  // A token PIN is asked for only on a terminal; without one the command says how to give it.
  ...(process.stdin.isTTY ? { promptSecret: secretPrompt(process.stdin as ReadStream, process.stderr) } : {}),
  isTTY: process.stdin.isTTY === true && process.stdout.isTTY === true,
  prompt: async (question) => {
    const { createInterface } = await import('node:readline/promises');
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  },
  // Failpoint for the fault-injection tests (docs/reliability.md): TUF_ROTATE_KILL_AT=<step> makes
  // this process SIGKILL itself when a rotation reaches that step, as a power cut would.
  onStep: (step) => {
    if (process.env['TUF_ROTATE_KILL_AT'] === step) process.kill(process.pid, 'SIGKILL');
  },
}).then((code) => {
  if (code !== -1) process.exitCode = code;
});
