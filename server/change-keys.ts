/**
 * Changes as a person asks for them (command line, page) → the changes planChanges takes, with the
 * new keys generated here (private keys stay in memory until the archive is saved).
 */
import { AppError } from './errors.js';
import { ONLINE_ROLES } from './tuf/changes.js';
import type { Change, OnlineRole, TopRole } from './tuf/changes.js';
import { generateKey } from './tuf/private-key.js';
import type { PrivateKey } from './tuf/private-key.js';
import type { Dialect, KeyAlgorithm, PublicKeyInfo } from './tuf/model.js';

/** A change as asked on the command line, before keys are generated. */
export type AskedChange =
  | { kind: 'rotate-key'; role: TopRole }
  | { kind: 'add-key'; role: TopRole; owner?: string; keyFile?: string }
  | { kind: 'remove-key'; keyid: string }
  | { kind: 'threshold'; role: TopRole; threshold: number }
  | { kind: 'prod-targets-threshold'; threshold: number }
  | { kind: 'refresh-expiry'; days?: number }
  | { kind: 'rotate-online-keys'; roles: OnlineRole[] };

export interface GeneratedKey {
  role: TopRole;
  key: PrivateKey;
}

/** Generates the keys the changes need (rotations, added keys without a key file, standard-repository online keys). */
export async function materializeChanges(
  asked: readonly AskedChange[],
  dialect: Dialect,
  keyType: KeyAlgorithm,
  readKeyFile: (file: string) => Promise<PublicKeyInfo>,
): Promise<{ changes: Change[]; generated: GeneratedKey[] }> {
  const generated: GeneratedKey[] = [];
  const changes: Change[] = [];
  const fresh = async (role: TopRole): Promise<PrivateKey> => {
    if (dialect === 'foundries' && keyType === 'ecdsa') {
      throw new AppError('KEY_TYPE_UNSUPPORTED', 'Foundries devices do not accept ECDSA keys.', 'Use the key type ed25519 (recommended) or rsa.');
    }
    const key = await generateKey(keyType);
    generated.push({ role, key });
    return key;
  };
  for (const a of asked) {
    if (a.kind === 'rotate-key') changes.push({ kind: 'rotate-key', role: a.role, newKey: (await fresh(a.role)).publicKey });
    else if (a.kind === 'add-key') {
      const pub = a.keyFile !== undefined ? await readKeyFile(a.keyFile) : (await fresh(a.role)).publicKey;
      changes.push({ kind: 'add-key', role: a.role, newKey: pub, ...(a.owner !== undefined ? { owner: a.owner } : {}) });
    } else if (a.kind === 'rotate-online-keys') {
      const roles = a.roles.length > 0 ? a.roles : [...ONLINE_ROLES];
      const newKeys: Partial<Record<OnlineRole, PublicKeyInfo>> = {};
      if (dialect === 'spec') for (const r of roles) newKeys[r] = (await fresh(r)).publicKey;
      changes.push({ kind: 'rotate-online-keys', roles, newKeys });
    } else changes.push(a);
  }
  return { changes, generated };
}

/** The command line that makes these changes (for the page: the same run from a terminal). */
export function changeArgs(asked: readonly AskedChange[]): string[] {
  const out: string[] = [];
  for (const a of asked) {
    switch (a.kind) {
      case 'rotate-key':
        out.push('--rotate-key', a.role);
        break;
      case 'add-key':
        out.push('--add-key', a.role, ...(a.owner !== undefined ? ['--owner', a.owner] : []), ...(a.keyFile !== undefined ? ['--key-file', a.keyFile] : []));
        break;
      case 'remove-key':
        out.push('--remove-key', a.keyid);
        break;
      case 'threshold':
        out.push('--threshold', `${a.role}=${a.threshold}`);
        break;
      case 'prod-targets-threshold':
        out.push('--prod-targets-threshold', String(a.threshold));
        break;
      case 'refresh-expiry':
        out.push('--refresh-expiry', ...(a.days !== undefined ? [String(a.days)] : []));
        break;
      case 'rotate-online-keys':
        out.push('--rotate-online-keys', ...(a.roles.length > 0 ? [a.roles.join(',')] : []));
        break;
    }
  }
  return out;
}
