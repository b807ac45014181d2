/**
 * The short authentication string of a signing request (ceremonies-research.md §A.5): the first 64
 * bits of the request id as 8 PGP words, and the same bits as 16 hex digits in four groups (what
 * `sha256sum` of the manifest starts with). Pure.
 */
import { pgpWords } from './pgp-words.js';

export interface Sas {
  words: string[];
  /** `c0db d990 0bf6 14db`: the first 16 hex digits of the id, in groups of four. */
  hex: string;
  bits: 64;
}

export const SAS_BYTES = 8;

/** The SAS of a request id (64 lowercase hex digits). */
export function sasOf(idHex: string): Sas {
  const first = Buffer.from(idHex.slice(0, SAS_BYTES * 2), 'hex');
  const hex = first.toString('hex');
  return { words: pgpWords(first), hex: (hex.match(/.{4}/g) ?? []).join(' '), bits: 64 };
}

/** Both forms on one line: `slowdown suspicious … suspicious (c0db d990 0bf6 14db)`. */
export function sasLine(sas: Sas): string {
  return `${sas.words.join(' ')} (${sas.hex})`;
}

/** The SAS as a terminal shows it: two rows of four words, then the hex, framed so it stands out. */
export function sasBlock(sas: Sas): string {
  const rows = [sas.words.slice(0, 4).join('  '), sas.words.slice(4, 8).join('  '), sas.hex];
  const width = Math.max(...rows.map((r) => r.length));
  const bar = '+' + '-'.repeat(width + 4) + '+';
  return [
    'Short authentication string (compare it with the coordinator before you sign):',
    bar,
    ...rows.map((r) => `|  ${r.padEnd(width)}  |`),
    bar,
  ].join('\n');
}
