/**
 * `tuf-rotate change`'s arguments: the changes (CHANGE…, in order, with their optional values) and
 * the keys given (`--keys` archives, PEM files, pkcs11: URIs), and `--key-file` public keys.
 */
import path from 'node:path';
import { readKeyArchive } from '../archive/read.js';
import type { AskedChange as Asked } from '../change-keys.js';
import { AppError } from '../errors.js';
import { ARCHIVE_FILE_LIMIT, keyRingFromArchive, loadKeyRing } from '../keyring.js';
import type { KeyRing } from '../keyring.js';
import type { Pkcs11Options } from '../signers/pkcs11.js';
import { ONLINE_ROLES, TOP_LEVEL_ROLES } from '../tuf/changes.js';
import type { OnlineRole, TopRole } from '../tuf/changes.js';
import type { JsonObject } from '../tuf/json.js';
import { parsePemPrivateKey } from '../tuf/private-key.js';
import { publicKeyOf } from '../tuf/public-key.js';
import type { PublicKeyInfo } from '../tuf/model.js';
import { readFileLimited } from '../util/fs-atomic.js';
import { usage } from './args.js';
import type { CliIo } from './io.js';
import { resolvePath } from './io.js';

function topRole(v: string, what: string): TopRole {
  if (!(TOP_LEVEL_ROLES as readonly string[]).includes(v)) throw usage(`${what} takes a role (root, targets, snapshot, timestamp), not "${v}".`);
  return v as TopRole;
}

function count(v: string, what: string): number {
  if (!/^\d{1,4}$/.test(v) || Number(v) < 1) throw usage(`${what} must be a whole number of at least 1, not "${v}".`);
  return Number(v);
}

/**
 * Optional values: `--refresh-expiry [DAYS]` and `--rotate-online-keys [ROLES]` take the next word
 * only when it looks like their value; `--owner`/`--key-file` belong to the `--add-key` before them.
 */
export function parseChanges(argv: readonly string[]): { argv: string[]; asked: Asked[] } {
  const out: string[] = [];
  const asked: Asked[] = [];
  let lastAdd: Extract<Asked, { kind: 'add-key' }> | undefined;
  const [command, ...rest] = argv;
  if (command !== undefined) out.push(command);
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] ?? '';
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? arg.slice(2, eq === -1 ? undefined : eq) : '';
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    const next = rest[i + 1];
    const take = (): string => {
      if (inline !== undefined) return inline;
      if (next === undefined || next.startsWith('--')) throw usage(`--${name} needs a value.`);
      i++;
      return next;
    };
    switch (name) {
      case 'refresh-expiry': {
        let v = inline;
        if (v === undefined && next !== undefined && /^\d+$/.test(next)) {
          v = next;
          i++;
        }
        asked.push(v === undefined ? { kind: 'refresh-expiry' } : { kind: 'refresh-expiry', days: count(v, '--refresh-expiry') });
        out.push('--refresh-expiry=x');
        continue;
      }
      case 'rotate-online-keys': {
        let v = inline;
        if (v === undefined && next !== undefined && /^[a-z,]+$/i.test(next) && !next.startsWith('--')) {
          v = next;
          i++;
        }
        const roles = (v ?? '').split(',').map((r) => r.trim().toLowerCase()).filter((r) => r !== '');
        for (const r of roles) if (!(ONLINE_ROLES as readonly string[]).includes(r)) throw usage(`--rotate-online-keys takes targets, snapshot, timestamp (comma-separated), not "${r}".`);
        asked.push({ kind: 'rotate-online-keys', roles: roles as OnlineRole[] });
        out.push('--rotate-online-keys=x');
        continue;
      }
      case 'rotate-key':
        asked.push({ kind: 'rotate-key', role: topRole(take(), '--rotate-key') });
        out.push('--rotate-key=x');
        continue;
      case 'add-key':
        lastAdd = { kind: 'add-key', role: topRole(take(), '--add-key') };
        asked.push(lastAdd);
        out.push('--add-key=x');
        continue;
      case 'owner':
      case 'key-file': {
        const v = take();
        if (lastAdd === undefined) throw usage(`--${name} belongs after the --add-key it is for.`);
        if (name === 'owner') {
          if (lastAdd.owner !== undefined) throw usage('--owner was given twice for one --add-key.');
          lastAdd.owner = v;
        } else {
          if (lastAdd.keyFile !== undefined) throw usage('--key-file was given twice for one --add-key.');
          lastAdd.keyFile = v;
        }
        out.push(`--${name}=x`);
        continue;
      }
      case 'remove-key':
        asked.push({ kind: 'remove-key', keyid: take() });
        out.push('--remove-key=x');
        continue;
      case 'threshold': {
        const v = take();
        const m = /^([a-z]+)=(.+)$/.exec(v);
        if (!m) throw usage(`--threshold takes ROLE=N (for example root=2), not "${v}".`);
        asked.push({ kind: 'threshold', role: topRole(m[1] ?? '', '--threshold'), threshold: count(m[2] ?? '', '--threshold') });
        out.push('--threshold=x');
        continue;
      }
      case 'prod-targets-threshold':
        asked.push({ kind: 'prod-targets-threshold', threshold: count(take(), '--prod-targets-threshold') });
        out.push('--prod-targets-threshold=x');
        continue;
      default:
        out.push(arg);
    }
  }
  return { argv: out, asked };
}

/** `--keys` may repeat: archives (the first is the base of --out) and PEM files or folders (the practice repository's online keys). */
export async function loadKeys(inputs: string[], pkcs11?: Pkcs11Options): Promise<KeyRing> {
  const archives = inputs.filter((p) => /\.(tgz|tar\.gz)$/i.test(p));
  const others = inputs.filter((p) => !archives.includes(p));
  const read = async (file: string): Promise<KeyRing> =>
    keyRingFromArchive(await readKeyArchive(await readFileLimited(file, ARCHIVE_FILE_LIMIT, 'key archive'), { name: path.basename(file) }), file);
  // The first archive is the one --out copies; further archives (a Factory's targets keys) only lend keys.
  const ring: KeyRing = archives[0] !== undefined ? await read(archives[0]) : { source: others.join(', '), archive: undefined, keys: [] };
  for (const more of archives.slice(1)) ring.keys.push(...(await read(more)).keys);
  if (others.length > 0) {
    const pems = await loadKeyRing(others, pkcs11); // PEM files, and pkcs11: URIs of token keys
    ring.keys.push(...pems.keys);
    ring.source = inputs.join(', ');
  }
  return ring;
}

/** `--key-file`: a PEM public key (SPKI), a fioctl/TUF `.pub` key object, Ed25519 as 64 hex digits, or a private PEM (only its public half is used). */
export async function publicKeyFile(io: CliIo, file: string): Promise<PublicKeyInfo> {
  const text = (await readFileLimited(resolvePath(io, file), 64 * 1024, 'public key file')).toString('utf8').trim();
  const tryKey = (keytype: string, pub: string): PublicKeyInfo | undefined => {
    try {
      return publicKeyOf({ keytype, scheme: undefined, public: pub, algorithm: undefined, json: {} });
    } catch {
      return undefined;
    }
  };
  let found: PublicKeyInfo | undefined;
  if (/PRIVATE KEY/.test(text)) found = parsePemPrivateKey(text).publicKey;
  else if (text.startsWith('{')) {
    try {
      const json = JSON.parse(text) as JsonObject;
      const keyval = json['keyval'] as JsonObject | undefined;
      if (typeof json['keytype'] === 'string' && typeof keyval?.['public'] === 'string') found = tryKey(json['keytype'], keyval['public']);
    } catch {
      found = undefined;
    }
  } else if (/BEGIN PUBLIC KEY/.test(text)) found = tryKey('rsa', text) ?? tryKey('ecdsa', text);
  else found = tryKey('ed25519', text);
  if (found === undefined) {
    throw new AppError('KEY_INVALID', `${file} holds no public key tuf-rotate can read`, 'Give a PEM public key (SPKI), a fioctl .pub file, or an Ed25519 key as 64 hex digits.');
  }
  return found;
}
