/**
 * The practice factory's targets routes: production tags and active waves (E15, E16), the CI
 * target upload and wave creation stand-ins (rule 34), and the targets checks apply and E11 make
 * (rules 31 and 32).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { keyIdFoundries } from '../tuf/public-key.js';
import { parseArchiveSecret } from '../tuf/archive-keys.js';
import type { PrivateKey } from '../tuf/private-key.js';
import { isJsonObject } from '../tuf/json.js';
import type { JsonObject } from '../tuf/json.js';
import { parseRoot } from '../tuf/metadata.js';
import type { Root } from '../tuf/model.js';
import { LocalSigner, signRoot } from '../tuf/sign.js';
import type { PracticeContext } from './api-common.js';
import { ApiFailure, bodyObject, currentRoot, fac } from './api-common.js';
import { checkCiTargetsUpload, checkWaveCreate, ciUploadBlocked, waveCreationBlocked } from './ci-waves.js';
import type { PracticeState, Transaction } from './state.js';
import { validTargetsSigners } from './targets.js';

export function targetsRoutes(practice: PracticeContext): void {
  const { app, state, exclusive, fail } = practice;

  // E15, E16
  const targetsRoute = (which: 'prod' | 'waves', param: 'tag' | 'name') => async (req: FastifyRequest, reply: FastifyReply) => {
    const all = await state.targetsFile(which);
    const raw = (req.query as Record<string, unknown>)[param];
    const wanted = typeof raw === 'string' && raw !== '' ? raw.split(',') : Object.keys(all);
    const unknown = wanted.filter((n) => all[n] === undefined);
    if (wanted.length === 0) return fail(reply, 404, which === 'prod' ? 'No production targets' : 'No active waves', [`rule 36: the Factory has no ${which === 'prod' ? 'production tags' : 'active waves'}`]);
    if (unknown.length > 0) return fail(reply, 404, `Not found: ${unknown.join(', ')}`, unknown.map((n) => `rule 36: no ${which === 'prod' ? 'production tag' : 'active wave'} "${n}"`));
    const out: JsonObject = {};
    for (const n of wanted) out[n] = all[n] ?? null;
    return out;
  };
  app.get(`${fac}/prod-targets/`, targetsRoute('prod', 'tag'));
  app.get(`${fac}/wave-targets/`, targetsRoute('waves', 'name'));

  // Stand-in: a CI target upload (fioctl `targets add`); rule 34.
  app.post(`${fac}/targets/`, async (req, reply) =>
    exclusive(async () => {
      const body = bodyObject(req, true);
      const blocked = ciUploadBlocked(state.transaction, state.config.onlineKeys);
      if (blocked.length > 0) throw new ApiFailure(423, 'New CI targets cannot be uploaded while an online key rotation is being applied', blocked);
      const upload = checkCiTargetsUpload(body);
      if (upload.errors.length > 0) throw new ApiFailure(400, 'Invalid request body', upload.errors);
      await state.saveTargetsFile('ci', { ...(await state.targetsFile('ci')), ...upload.targets });
      return reply.code(201).send({});
    }),
  );

  // Stand-in: a wave creation (fioctl `waves init`); rule 34. The server adds its online targets signature.
  app.post(`${fac}/waves/`, async (req, reply) =>
    exclusive(async () => {
      const body = bodyObject(req, true);
      const blocked = waveCreationBlocked(state.transaction, state.config.onlineKeys);
      if (blocked.length > 0) throw new ApiFailure(409, 'A wave cannot be created while TUF root updates are open', blocked);
      const waves = await state.targetsFile('waves');
      const online = state.config.onlineKeys.targets;
      const wave = checkWaveCreate(body, currentRoot(state, 'ci'), online, waves);
      if (wave.errors.length > 0 || wave.signed === undefined) throw new ApiFailure(400, 'Invalid wave', wave.errors);
      const signer = await onlineTargetsKey(state, online);
      const [byOnline] = await signRoot('foundries', wave.signed, [{ keyid: online, signer: new LocalSigner(signer) }]);
      await state.saveTargetsFile('waves', { ...waves, [wave.name]: { signatures: [...(byOnline ? [byOnline] : []), ...wave.signatures], signed: wave.signed } });
      return reply.code(201).send({});
    }),
  );
}

/**
 * Rule 31: production tags and active waves as they will be after apply: signatures by keys no
 * longer in the targets role dropped, staged signatures added; each must meet the new production
 * targets threshold. A wave short of signatures after a targets-key rotation or deletion is refused
 * as rule 32 (allowed only when the waves are signed with the new key, `waves-signatures`).
 */
export async function targetsAfterApply(
  state: PracticeState,
  tx: Transaction,
): Promise<{ prod: Record<string, JsonObject>; waves: Record<string, JsonObject>; errors: string[] }> {
  const prodRoot = parseRoot(tx.prodRoot, 'staged prod-root');
  const threshold = prodRoot.roles['targets']?.threshold ?? 2;
  const errors: string[] = [];
  const rotated = removedOfflineTargetsKeys(state, parseRoot(tx.ciRoot, 'staged ci-root'), (tx.onlineKeys ?? state.config.onlineKeys).targets).length > 0;
  const build = async (which: 'prod' | 'waves', staged: Record<string, JsonObject[]> | undefined): Promise<Record<string, JsonObject>> => {
    const all = await state.targetsFile(which);
    const out: Record<string, JsonObject> = {};
    for (const [name, entry] of Object.entries(all)) {
      const signed = entry['signed'];
      if (!isJsonObject(signed)) continue;
      const old = (Array.isArray(entry['signatures']) ? entry['signatures'] : []).filter(isJsonObject);
      const add = staged?.[name] ?? [];
      const ids = new Set(add.map((x) => x['keyid']));
      const sigs = [...old.filter((x) => !ids.has(x['keyid'])), ...add].filter((x) => prodRoot.roles['targets']?.keyids.includes(String(x['keyid'])));
      const valid = validTargetsSigners(prodRoot, signed, sigs);
      if (valid.length < threshold && which === 'waves' && rotated) {
        errors.push(`rule 32: active wave "${name}" would have ${valid.length} valid targets signatures, ${threshold} needed: a targets-key rotation or deletion while a wave is active must sign the wave with an offline targets key of the new root (waves-signatures)`);
      } else if (valid.length < threshold) {
        errors.push(`rule 31: ${which === 'prod' ? 'production tag' : 'wave'} "${name}" would have ${valid.length} valid targets signatures, ${threshold} needed (sign it with the offline targets key)`);
      }
      out[name] = { signatures: sigs, signed };
    }
    return out;
  };
  const prod = await build('prod', tx.targetsSignatures);
  const waves = await build('waves', tx.wavesSignatures);
  return { prod, waves, errors };
}

/** Offline targets keys (of the current CI root) the staged root no longer lists: a targets-key rotation or deletion. */
export function removedOfflineTargetsKeys(state: PracticeState, staged: Root, onlineTargets: string): string[] {
  const current = currentRoot(state, 'ci').roles['targets']?.keyids ?? [];
  const next = staged.roles['targets']?.keyids ?? [];
  return current.filter((k) => k !== state.config.onlineKeys.targets && k !== onlineTargets && !next.includes(k));
}

/** Rule 32, strict (fioctl's help): refusal lines when the staged root rotates or deletes an offline targets key while a wave is active. */
export async function strictWavesRefusal(state: PracticeState, staged: Root, onlineTargets: string): Promise<string[]> {
  const removed = removedOfflineTargetsKeys(state, staged, onlineTargets);
  if (removed.length === 0) return [];
  const waves = Object.keys(await state.targetsFile('waves'));
  return waves.map((w) => `rule 32: active wave "${w}" blocks rotating or deleting the offline targets key ${removed.map((k) => k.slice(0, 8)).join(', ')} (strict waves)`);
}

/** The private key of the current online targets key, as the server holds it. */
export async function onlineTargetsKey(state: PracticeState, keyid: string): Promise<PrivateKey> {
  for (const name of [`targets-online-${keyid}.sec`, 'targets-online.sec']) {
    const bytes = await state.serverKey(name);
    if (bytes === undefined) continue;
    const key = parseArchiveSecret(JSON.parse(Buffer.from(bytes).toString('utf8')) as JsonObject);
    if (keyIdFoundries(key.publicKey) === keyid) return key;
  }
  throw new ApiFailure(500, 'The online targets key is missing from the practice factory');
}
