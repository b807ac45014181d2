/**
 * PEM: reading the blocks of a PEM text and writing one block as Go and OpenSSL do.
 * Pure: no fs, no network.
 */
import { invalid } from './key-common.js';

export interface PemBlock {
  label: string;
  /** Header lines such as `Proc-Type: 4,ENCRYPTED` (legacy OpenSSL encryption). */
  headers: string[];
  der: Buffer;
}

export const PEM_BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

/** Every PEM block in text (CRLF or LF line ends). Throws KEY_INVALID on a block with bad base64. */
export function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(PEM_BLOCK_RE)) {
    const label = m[1] ?? '';
    const lines = (m[2] ?? '').split(/\r?\n/).map((l) => l.trim());
    const headers: string[] = [];
    let i = 0;
    // RFC 1421 headers (`Name: value`), then a blank line, then the base64 body.
    if (lines.some((l) => l.includes(':'))) {
      while (i < lines.length && lines[i] !== '') headers.push(lines[i++] ?? '');
    }
    const body = lines.slice(i).join('');
    if (body === '' || !/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) {
      throw invalid(`the PEM block "${label}" does not hold valid base64`);
    }
    blocks.push({ label, headers, der: Buffer.from(body, 'base64') });
  }
  return blocks;
}

/** Exactly one PEM block and nothing else but whitespace (public keys in roots). */
export function singlePemBlock(text: string, what: string): PemBlock {
  const blocks = pemBlocks(text);
  const rest = text.replace(PEM_BLOCK_RE, '').trim();
  const [block] = blocks;
  if (blocks.length !== 1 || block === undefined || rest !== '') {
    throw invalid(`${what} is not a single PEM block`);
  }
  return block;
}

/** PEM as Go's pem.Encode and OpenSSL write it: LF line ends, 64-character lines, trailing newline. */
export function pemEncode(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
