/**
 * The hardware-key options a command shares: `--new-key pkcs11:…`, `--pkcs11-module`, `--pin-file`,
 * `--ack-no-backup "REASON"` (and `--new-key-type`, an alias of `--key-type` for the new key).
 */
import { AppError } from '../errors.js';
import { pinProviderFor } from '../signers/pin.js';
import type { Pkcs11Options } from '../signers/pkcs11.js';
import { isPkcs11Uri, parsePkcs11Uri } from '../signers/pkcs11-uri.js';
import { one, usage } from './args.js';
import type { ParsedArgs } from './args.js';
import type { CliIo } from './io.js';
import { resolvePath } from './io.js';

export const PKCS11_OPTIONS = ['new-key', 'new-key-type', 'pkcs11-module', 'pin-file', 'ack-no-backup'] as const;
export const PKCS11_FLAGS = ['new-key-exists'] as const;

export interface TokenCliOptions {
  /** `--new-key`: the pkcs11: URI the new root key is generated at. */
  newKey: string | undefined;
  /** `--new-key-exists`: the --new-key key was generated in the token by its own tool; use it. */
  existing: boolean;
  ackNoBackup: string | undefined;
  pkcs11: Pkcs11Options;
}

export function tokenOptions(args: ParsedArgs, io: CliIo): TokenCliOptions {
  const newKey = one(args, 'new-key');
  if (newKey !== undefined && !isPkcs11Uri(newKey)) {
    throw usage('--new-key takes a pkcs11: URI naming the token and the new key\'s label, e.g. pkcs11:token=tuf-root;object=root-2027.');
  }
  if (newKey !== undefined) parsePkcs11Uri(newKey); // refuse a bad URI before anything else runs
  const existing = args.flags.has('new-key-exists');
  if (existing && newKey === undefined) throw usage('--new-key-exists needs --new-key pkcs11:… naming the key.');
  const ack = one(args, 'ack-no-backup');
  if (ack !== undefined && ack.trim() === '') throw usage('--ack-no-backup needs a reason in words.');
  if (ack !== undefined && newKey === undefined) throw usage('--ack-no-backup applies to --new-key pkcs11:… only.');
  const pinFile = one(args, 'pin-file');
  const modulePath = one(args, 'pkcs11-module');
  // A pin-source in the --new-key URI, else in the first --keys URI that has one.
  const keyUris = (args.options.get('keys') ?? []).filter(isPkcs11Uri);
  const uriPinSource = [...(newKey !== undefined ? [newKey] : []), ...keyUris].map((u) => parsePkcs11Uri(u).pinSource).find((p) => p !== undefined);
  return {
    newKey,
    existing,
    ackNoBackup: ack?.trim(),
    pkcs11: {
      modulePath: modulePath !== undefined ? resolvePath(io, modulePath) : undefined,
      env: io.env,
      pin: pinProviderFor({
        pinFile: pinFile !== undefined ? resolvePath(io, pinFile) : undefined,
        pinSource: uriPinSource,
        ask: io.promptSecret,
      }),
    },
  };
}

/** Ends the token sessions and unloads the modules a command used (only if any were loaded). */
export async function closeTokens(): Promise<void> {
  const { closeModules } = await import('../signers/pkcs11-module.js');
  try {
    closeModules();
  } catch (e) {
    if (!(e instanceof AppError)) throw e;
  }
}
