/**
 * `tuf-rotate keys ARCHIVE|PEM… [--root ROOT.json | --repo DIR]`: what key files hold, without a
 * server — per key: the file names (fioctl's `.pub`/`.sec`), type, size, whether the private half is
 * there and matches, both key IDs (Foundries: sha256 of the SPKI; TUF spec: hash of the key object),
 * and, given a root, which of its roles list the key. Never prints key material.
 */
import path from 'node:path';
import { readKeyArchive } from '../../archive/read.js';
import { LocalRepoBackend } from '../../backends/local-repo.js';
import { AppError } from '../../errors.js';
import { ARCHIVE_FILE_LIMIT } from '../../keyring.js';
import { isJsonObject, type JsonObject } from '../../tuf/json.js';
import { keyIdFoundries, keyIdSpec, newRootKeyJson, publicKeyOf, samePublicKey } from '../../tuf/public-key.js';
import { parsePemPrivateKey } from '../../tuf/private-key.js';
import type { PublicKeyInfo, Root } from '../../tuf/model.js';
import { readFileLimited } from '../../util/fs-atomic.js';
import { one, parseArgs, usage } from '../args.js';
import type { CliIo } from '../io.js';
import { readRootFile, resolvePath } from '../io.js';

export interface KeyListing {
  file: string;
  /** Entry names inside an archive (`tufrepo/keys/fioctl-root-<id>.pub`), or the PEM file's name. */
  pubName?: string;
  secName?: string;
  algorithm?: string;
  bits?: number;
  /** `ok` when the private half is present and matches. */
  status: string;
  problem?: string;
  private: boolean;
  keyIds?: { foundries: string; spec: string; specAsWritten?: string };
  /** Given a root: its key ID there and the roles listing it. */
  inRoot?: { keyid: string; roles: string[] }[];
}

function rolesServed(root: Root, pub: PublicKeyInfo): { keyid: string; roles: string[] }[] {
  const out: { keyid: string; roles: string[] }[] = [];
  for (const [keyid, k] of Object.entries(root.keys)) {
    let rpub: PublicKeyInfo;
    try {
      rpub = publicKeyOf(k);
    } catch {
      continue;
    }
    if (!samePublicKey(rpub, pub)) continue;
    out.push({ keyid, roles: Object.entries(root.roles).filter(([, r]) => r.keyids.includes(keyid)).map(([name]) => name) });
  }
  return out;
}

/** The public key behind each listed entry (kept beside the listing, never printed). */
const publicKeys = new WeakMap<KeyListing, PublicKeyInfo>();

function ids(pub: PublicKeyInfo): { foundries: string; spec: string } {
  return { foundries: keyIdFoundries(pub), spec: keyIdSpec(newRootKeyJson('spec', pub)) };
}

async function listFile(io: CliIo, file: string): Promise<KeyListing[]> {
  const full = resolvePath(io, file);
  const label = path.basename(full);
  if (/\.(tgz|tar\.gz)$/i.test(full)) {
    const archive = await readKeyArchive(await readFileLimited(full, ARCHIVE_FILE_LIMIT, 'key archive'), { name: label });
    return archive.keys.map((k) => {
      const entry: KeyListing = { file, status: k.status, private: k.status === 'ok' };
      if (k.pubName !== undefined) entry.pubName = k.pubName;
      if (k.secName !== undefined) entry.secName = k.secName;
      if (k.algorithm !== undefined) entry.algorithm = k.algorithm;
      if (k.problem !== undefined) entry.problem = k.problem;
      if (k.publicKey !== undefined) {
        publicKeys.set(entry, k.publicKey);
        entry.bits = k.publicKey.bits;
        entry.keyIds = ids(k.publicKey);
        // A spec archive's .pub holds the key object as the root has it: its hash is the root's key ID.
        const pubEntry = k.pubName !== undefined ? archive.entry(k.pubName) : undefined;
        if (pubEntry?.type === 'file') {
          try {
            const obj = JSON.parse(Buffer.from(pubEntry.data).toString('utf8')) as unknown;
            if (isJsonObject(obj) && typeof obj['scheme'] === 'string') entry.keyIds.specAsWritten = keyIdSpec(obj as JsonObject);
          } catch {
            // not JSON: the reader already said so in status/problem
          }
        }
      }
      return entry;
    });
  }
  const text = (await readFileLimited(full, 64 * 1024, 'PEM key file')).toString('utf8');
  try {
    const key = parsePemPrivateKey(text);
    const entry: KeyListing = { file, pubName: label, status: 'ok', private: true, algorithm: key.algorithm, bits: key.publicKey.bits, keyIds: ids(key.publicKey) };
    publicKeys.set(entry, key.publicKey);
    return [entry];
  } catch (e) {
    if (e instanceof AppError) return [{ file, pubName: label, status: 'unparseable', private: false, problem: e.message }];
    throw e;
  }
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['root', 'repo'], flags: ['json'] });
  if (args.positionals.length === 0) throw usage('keys takes one or more key archives (.tgz) or PEM files.');
  const rootFile = one(args, 'root');
  const repo = one(args, 'repo');
  if (rootFile !== undefined && repo !== undefined) throw usage('Give --root or --repo, not both.');
  const root = rootFile !== undefined ? await readRootFile(io, rootFile) : repo !== undefined ? await new LocalRepoBackend(resolvePath(io, repo)).currentRoot() : undefined;
  const listing: KeyListing[] = [];
  for (const f of args.positionals) listing.push(...(await listFile(io, f)));
  if (root !== undefined) {
    for (const entry of listing) {
      const pub = publicKeys.get(entry);
      if (pub !== undefined) entry.inRoot = rolesServed(root, pub);
    }
  }
  if (args.flags.has('json')) {
    io.stdout(JSON.stringify({ ok: true, ...(root ? { root: { version: root.version, dialect: root.dialect } } : {}), keys: listing }) + '\n');
    return 0;
  }
  const lines: string[] = [];
  if (root) lines.push(`Root version ${root.version} (${root.dialect === 'foundries' ? 'FoundriesFactory' : 'TUF specification'}):`);
  for (const k of listing) {
    const name = k.pubName ?? k.secName ?? k.file;
    const head = `${k.file === name ? name : `${k.file}: ${name}`}`;
    lines.push(`${head}\n  ${k.algorithm ?? 'unknown type'}${k.bits !== undefined && k.algorithm === 'rsa' ? ` ${k.bits}` : ''}, ${k.private ? 'private key present' : `not usable (${k.status}${k.problem ? `: ${k.problem}` : ''})`}`);
    if (k.keyIds) lines.push(`  key ID (Foundries) ${k.keyIds.foundries}`, `  key ID (TUF spec)  ${k.keyIds.specAsWritten ?? k.keyIds.spec}`);
    if (root) {
      const served = k.inRoot ?? [];
      lines.push(served.length === 0 ? '  serves no role of this root' : served.map((s) => `  serves ${s.roles.length > 0 ? s.roles.join(', ') : 'no role (listed in keys only)'} as ${s.keyid}`).join('\n'));
    }
  }
  io.stdout(lines.join('\n') + '\n');
  return 0;
}
