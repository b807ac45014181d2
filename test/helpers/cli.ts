import { runCli } from '../../server/cli/run.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  json: () => Record<string, unknown>;
}

/** Runs the CLI in-process with captured output (the same code the binary runs). */
export async function cli(args: string[], opts: { cwd?: string; now?: Date } = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env: {},
    cwd: opts.cwd ?? process.cwd(),
    ...(opts.now ? { now: () => opts.now as Date } : {}),
  });
  return { code, stdout, stderr, json: () => JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown> };
}
