/**
 * Where a token's PIN comes from: a file (`--pin-file`, or the URI's `pin-source`), a terminal
 * prompt (only when stdin is a terminal: a run without one never waits), or the page's PIN field.
 * A PinProvider hands the PIN to C_Login and nothing else keeps it: never logged, stored or sent.
 */
import { AppError } from '../errors.js';
import { readFileLimited } from '../util/fs-atomic.js';

/** Asked once per token login; `token` is the token's label (for the prompt). */
export type PinProvider = (token: string) => Promise<string>;

const MAX_PIN_FILE = 1024;

function checkPin(pin: string, from: string): string {
  if (pin === '') throw new AppError('PKCS11_PIN_REQUIRED', `The PIN from ${from} is empty.`, 'Put the user PIN of the token in it (one line).');
  if (/[\0\r\n]/.test(pin)) throw new AppError('PKCS11_PIN_REQUIRED', `The PIN from ${from} has more than one line.`, 'Put only the user PIN of the token in it (one line).');
  return pin;
}

/** The first line of a file (a trailing newline is not part of the PIN). */
export function pinFromFile(file: string): PinProvider {
  return async () => {
    const bytes = await readFileLimited(file, MAX_PIN_FILE, 'PIN file');
    return checkPin(bytes.toString('utf8').replace(/\r?\n$/, ''), `the PIN file ${file}`);
  };
}

/** A PIN typed in the page (sent in a request body over loopback). */
export function pinFromValue(pin: string): PinProvider {
  return () => Promise.resolve(checkPin(pin, 'the PIN field'));
}

/** A prompt on the terminal, without echo; `ask` is the CLI's (present only when stdin is a TTY). */
export function pinFromPrompt(ask: (question: string) => Promise<string>): PinProvider {
  return async (token) => checkPin(await ask(`PIN for token "${token}": `), 'the prompt');
}

/** No PIN source: refuse at once, with what to do (never wait for input that cannot come). */
export function noPin(): PinProvider {
  return () =>
    Promise.reject(
      new AppError(
        'PKCS11_PIN_REQUIRED',
        'The token needs its user PIN, and no PIN was given (stdin is not a terminal, so there is no prompt).',
        'Give the PIN with --pin-file FILE (a file only you can read), or run the command in a terminal to be asked for it.',
      ),
    );
}

/** The PIN source for a command: --pin-file, else the URI's pin-source, else the prompt, else none. */
export function pinProviderFor(opts: { pinFile?: string | undefined; pinSource?: string | undefined; ask?: ((question: string) => Promise<string>) | undefined }): PinProvider {
  if (opts.pinFile !== undefined) return pinFromFile(opts.pinFile);
  if (opts.pinSource !== undefined) return pinFromFile(opts.pinSource);
  if (opts.ask !== undefined) return pinFromPrompt(opts.ask);
  return noPin();
}
