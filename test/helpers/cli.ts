import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../server/cli/run.js';

/** The default work folder of in-process CLI runs: one temp folder per test process, never ~/.local/share. */
const DATA_HOME = mkdtempSync(path.join(os.tmpdir(), 'tuf-rotate-data-'));
process.once('exit', () => rmSync(DATA_HOME, { recursive: true, force: true }));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  json: () => Record<string, unknown>;
}

/** Runs the CLI in-process with captured output (the same code the binary runs). */
export async function cli(args: string[], opts: { cwd?: string; now?: Date; env?: Record<string, string> } = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env: { XDG_DATA_HOME: DATA_HOME, ...opts.env },
    cwd: opts.cwd ?? process.cwd(),
    ...(opts.now ? { now: () => opts.now as Date } : {}),
  });
  return { code, stdout, stderr, json: () => JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown> };
}
