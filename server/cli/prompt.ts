/**
 * A no-echo prompt on the terminal, for a token PIN. main.ts offers it only when stdin is a TTY, so
 * a run without a terminal never waits for input. The answer is returned, never printed or kept.
 */
import type { ReadStream } from 'node:tty';
import { AppError } from '../errors.js';

export function secretPrompt(input: ReadStream, output: NodeJS.WritableStream): (question: string) => Promise<string> {
  return (question) =>
    new Promise((resolve, reject) => {
      output.write(question);
      let answer = '';
      const wasRaw = input.isRaw;
      input.setRawMode(true);
      input.resume();
      const done = (err?: Error): void => {
        input.off('data', onData);
        input.setRawMode(wasRaw);
        input.pause();
        output.write('\n');
        if (err) reject(err);
        else resolve(answer);
      };
      const onData = (chunk: Buffer): void => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n') return done();
          if (ch === '\u0003') return done(new AppError('PKCS11_PIN_REQUIRED', 'The PIN prompt was interrupted; nothing was signed or published.', 'Run the command again and type the PIN, or give it with --pin-file FILE.'));
          if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
          else if (ch >= ' ') answer += ch;
        }
      };
      input.on('data', onData);
    });
}
