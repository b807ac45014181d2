/**
 * The Factory half of `tuf-rotate change` that the root alone does not cover
 * (foundries-operations.md §3.2, §3.6): re-signing production and wave targets with a new offline
 * targets key (E15/E16 → `targets-signatures` / `waves-signatures`), and online keys the Factory
 * generates (E14). The roots themselves go through FoundriesBackend's transaction.
 */
import { AppError } from './errors.js';
import type { FoundriesClient } from './backends/foundries-client.js';
import type { TargetsEntry } from './backends/foundries-types.js';
import { heldKeysForRole } from './keyring.js';
import type { KeyRing } from './keyring.js';
import { shortKeyId } from './tuf/diff.js';
import { isJsonObject } from './tuf/json.js';
import type { JsonObject } from './tuf/json.js';
import type { Root, Signer } from './tuf/model.js';
import { signRoot } from './tuf/sign.js';

const TARGETS_SIGNED_FIELDS = new Set(['_type', 'expires', 'targets', 'version']);
const TARGET_FIELDS = new Set(['custom', 'hashes', 'length']);

/**
 * fioctl signs the struct view of `signed` (§3.2.4: four members; per target custom/hashes/length).
 * The practice factory (and, inferred, the real API) serves `signed` already in that form, so the
 * device-form canonical bytes are fioctl's bytes. Anything else would be signed differently by
 * fioctl: refuse rather than guess.
 */
function assertStructView(name: string, signed: JsonObject): void {
  const extra = Object.keys(signed).filter((k) => !TARGETS_SIGNED_FIELDS.has(k));
  const targets = isJsonObject(signed['targets']) ? signed['targets'] : {};
  for (const [t, v] of Object.entries(targets)) {
    if (isJsonObject(v)) extra.push(...Object.keys(v).filter((k) => !TARGET_FIELDS.has(k)).map((k) => `targets.${t}.${k}`));
  }
  if (extra.length > 0) {
    throw new AppError(
      'CHANGE_REFUSED',
      `the targets metadata of ${name} has members fioctl would drop before signing (${extra.slice(0, 3).join(', ')})`,
      'Nothing was sent. Rotate the targets key with fioctl for this Factory, and report the shape of its targets metadata.',
    );
  }
}

/**
 * The offline targets key the current (applied) root lists and the keys given hold — fioctl's
 * "oldest key": production tags and waves it signed get a signature by the new key.
 */
export function oldOfflineTargetsKey(current: Root, onlineTargetsId: string | undefined, ring: KeyRing): string | undefined {
  const ids = (current.roles['targets']?.keyids ?? []).filter((id) => id !== onlineTargetsId);
  const held = [...heldKeysForRole(ring, current, 'targets').keys()].filter((id) => ids.includes(id));
  if (ids.length > 0 && held.length === 0) {
    throw new AppError(
      'CHANGE_REFUSED',
      `none of your keys is an offline targets key of version ${current.version} (${ids.map(shortKeyId).join(', ')})`,
      'Add the targets key archive to --keys (the practice factory keeps it as targets-keys.tgz); fioctl needs it too, to find the production targets to re-sign.',
    );
  }
  if (held.length > 1) {
    throw new AppError('CHANGE_REFUSED', `the keys given hold ${held.length} offline targets keys of version ${current.version}`, 'Give the one archive with the targets key to replace.');
  }
  return held[0];
}

function signedBy(entry: TargetsEntry, keyid: string): boolean {
  return entry.signatures.some((s) => s['keyid'] === keyid);
}

/**
 * E15/E16, kept where the old offline targets key signed (fioctl `excludeTargetsWithoutKeySigInplace`),
 * each signed by the new offline targets key only. Empty maps are left out (fioctl's omitempty).
 */
export async function resignProductionTargets(
  client: FoundriesClient,
  oldKeyId: string | undefined,
  newKey: { keyid: string; signer: Signer },
): Promise<{ targetsSignatures?: JsonObject; wavesSignatures?: JsonObject; tags: string[]; waves: string[] }> {
  const sign = async (entries: Record<string, TargetsEntry>): Promise<{ map: JsonObject; names: string[] }> => {
    const map: JsonObject = {};
    const names: string[] = [];
    for (const [name, entry] of Object.entries(entries).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (oldKeyId === undefined || !signedBy(entry, oldKeyId)) continue;
      assertStructView(name, entry.signed);
      map[name] = await signRoot('foundries', entry.signed, [newKey]);
      names.push(name);
    }
    return { map, names };
  };
  const tags = await sign(await client.prodTargets());
  const waves = await sign(await client.waveTargets());
  return {
    ...(tags.names.length > 0 ? { targetsSignatures: tags.map } : {}),
    ...(waves.names.length > 0 ? { wavesSignatures: waves.map } : {}),
    tags: tags.names,
    waves: waves.names,
  };
}
