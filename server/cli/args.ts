import { AppError } from '../errors.js';

export interface ParsedArgs {
  command: string | undefined;
  positionals: string[];
  /** Repeated options collect every value in order. */
  options: Map<string, string[]>;
  flags: Set<string>;
}

/**
 * A small, strict argv parser: `--name value`, `--name=value`, boolean `--flag`. Unknown options
 * are refused (a typo must never silently change what a rotation does).
 */
export function parseArgs(argv: string[], spec: { options: readonly string[]; flags: readonly string[] }): ParsedArgs {
  const [command, ...rest] = argv;
  const out: ParsedArgs = { command, positionals: [], options: new Map(), flags: new Set() };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] ?? '';
    if (arg === '--') {
      out.positionals.push(...rest.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      out.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (spec.flags.includes(name)) {
      if (eq !== -1) throw usage(`--${name} takes no value.`);
      out.flags.add(name);
      continue;
    }
    if (!spec.options.includes(name)) throw usage(`Unknown option --${name} for "${command ?? ''}".`);
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = rest[i + 1];
      i++;
    }
    if (value === undefined || (eq === -1 && value.startsWith('--'))) throw usage(`--${name} needs a value.`);
    const list = out.options.get(name) ?? [];
    list.push(value);
    out.options.set(name, list);
  }
  return out;
}

export function usage(message: string): AppError {
  return new AppError('BAD_USAGE', message, 'Run "tuf-rotate help" for the commands and their options.');
}

export function one(args: ParsedArgs, name: string): string | undefined {
  const v = args.options.get(name);
  if (v && v.length > 1) throw usage(`--${name} was given more than once.`);
  return v?.[0];
}

export function required(args: ParsedArgs, name: string): string {
  const v = one(args, name);
  if (v === undefined) throw usage(`--${name} is required.`);
  return v;
}

export function intOption(args: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const v = one(args, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw usage(`--${name} must be a whole number from ${min} to ${max}, not "${v}".`);
  }
  return Number(v);
}

export function choice<T extends string>(args: ParsedArgs, name: string, allowed: readonly T[], fallback: T): T {
  const v = one(args, name);
  if (v === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(v)) throw usage(`--${name} must be one of ${allowed.join(', ')}, not "${v}".`);
  return v as T;
}
