/** CLI commands and targets that talk to a FoundriesFactory (real or practice). */
import type { Backend } from '../backends/backend.js';
import type { CliIo } from '../cli.js';
import { AppError } from '../errors.js';
import type { KeyAlgorithm } from '../tuf/model.js';
import type { ParsedArgs } from './args.js';

export const extraCommands: Record<string, (argv: string[], io: CliIo) => Promise<number>> = {};

export async function factoryBackend(_args: ParsedArgs, _io: CliIo): Promise<Backend> {
  throw new AppError('TARGET_NOT_CONFIGURED', 'The FoundriesFactory target is not available in this build.', 'Use --repo or --root.');
}

export async function practiceFactory(_args: ParsedArgs, _io: CliIo, _dir: string, _keyType: KeyAlgorithm): Promise<number> {
  throw new AppError('TARGET_NOT_CONFIGURED', 'The practice factory is not available in this build.', 'Use --dialect spec.');
}
