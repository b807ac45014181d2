/**
 * What every command shares: the io object (the CLI is pure of process state: argv and io in, an
 * exit status out), the error report, and small path and root-file helpers.
 */
import path from 'node:path';
import { ROOT_FILE_LIMIT } from '../backends/local-repo.js';
import { AppError } from '../errors.js';
import type { ErrorCode } from '../../shared/errors.js';
import { parseRoot } from '../tuf/metadata.js';
import type { Root } from '../tuf/model.js';
import { readFileLimited } from '../util/fs-atomic.js';
import { usage } from './args.js';
import type { ParsedArgs } from './args.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
  now?: () => Date;
  /** Called at each step boundary of a rotation (progress; the fault-injection tests kill here). */
  onStep?: (step: string) => void;
  /** Asks for a secret (a token PIN) without echo; present only when stdin is a terminal. */
  promptSecret?: (question: string) => Promise<string>;
  /** True when stdin and stdout are a terminal: only then may a command ask a question. */
  isTTY?: boolean;
  /** Asks one question on the terminal and returns the answer line. */
  prompt?: (question: string) => Promise<string>;
}

/** One command: `run` gets the whole argv (command name first) and returns the exit status (-1: keep running). */
export type CommandRun = (argv: string[], io: CliIo) => Promise<number>;

/** Codes that mean "a check failed" (exit 1); every other error is bad usage or bad input (exit 2). */
const CHECK_FAILED: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'VERIFY_FAILED',
  'CHAIN_BROKEN',
  'ROTATION_REFUSED',
  'ROTATION_LOCKOUT',
  'CHANGE_REFUSED',
  'BACKUP_ACK_REQUIRED',
  'ROOT_EXPIRED',
  'PUBLISH_FAILED',
  'TARGET_REFUSED',
  'TARGET_CONFLICT',
  'TARGET_PARTIAL_APPLY',
  'TARGET_UNREACHABLE',
  'TARGET_AUTH_FAILED',
  'SESSION_STATE',
  'REQUEST_TAMPERED',
  'REQUEST_EXPIRED',
  'REQUEST_MISMATCH',
  'SIGNATURE_INVALID',
  'SIGNATURE_SALT',
  'SIGNATURE_KEY_NOT_REQUIRED',
  'SIGNATURE_DUPLICATE',
  'RECORD_TAMPERED',
]);

export function reportError(e: unknown, io: CliIo, json: boolean): number {
  if (e instanceof AppError) {
    if (json) io.stdout(JSON.stringify({ ok: false, error: { code: e.code, message: e.message, hint: e.hint } }) + '\n');
    io.stderr(`tuf-rotate: ${sentence(e.message)} ${sentence(e.hint)}\n`);
    return CHECK_FAILED.has(e.code) ? 1 : 2;
  }
  // Unexpected: say so without echoing internals that could hold data.
  const name = e instanceof Error ? e.name : 'error';
  io.stderr(`tuf-rotate: an unexpected ${name} stopped the command; nothing was published. Run it again, and report this if it repeats.\n`);
  if (json) io.stdout(JSON.stringify({ ok: false, error: { code: 'INTERNAL', message: 'unexpected error', hint: 'Report this.' } }) + '\n');
  return 2;
}

/** Ends a message with a full stop, so message and hint read as two sentences on one line. */
export function sentence(text: string): string {
  const t = text.trim().replace(/\s*\n\s*/g, ' ');
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

export function resolvePath(io: CliIo, p: string): string {
  return path.resolve(io.cwd, p);
}

export async function readRootFile(io: CliIo, file: string): Promise<Root> {
  return parseRoot(await readFileLimited(resolvePath(io, file), ROOT_FILE_LIMIT, 'root metadata'), file);
}

export function now(io: CliIo): Date {
  return io.now ? io.now() : new Date();
}

export function noPositionals(args: ParsedArgs): void {
  if (args.positionals.length > 0) throw usage(`Unexpected argument "${args.positionals[0] ?? ''}".`);
}
