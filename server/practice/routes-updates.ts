/**
 * The practice factory's root updates routes: the transaction's status (E9), init (E10), staging
 * signed roots (E11), apply (E12, with the injected faults), cancel (E13) and gen-online-keys (E14).
 */
import type { RootDocument } from '../tuf/model.js';
import { archivePairFiles } from '../tuf/archive-keys.js';
import { isPrintableAscii } from '../tuf/canonical-json.js';
import { cloneJson, isJsonObject } from '../tuf/json.js';
import type { JsonObject } from '../tuf/json.js';
import { parseRoot } from '../tuf/metadata.js';
import { generateKey } from '../tuf/private-key.js';
import { keyIdFoundries, newRootKeyJson } from '../tuf/public-key.js';
import type { PracticeContext } from './api-common.js';
import {
  ApiFailure,
  APPLYING,
  APPLYING_LINE,
  bodyObject,
  currentRoot,
  MAX_MESSAGE,
  newTxid,
  NONE_IN_PROGRESS,
  ONLY_ONE,
  onlyFields,
  openTransaction,
  repo,
  stamp,
  TARGETS_WAVE,
  txidOf,
} from './api-common.js';
import { checkStagingRules } from './rules.js';
import { strictWavesRefusal, targetsAfterApply } from './routes-targets.js';
import type { OnlineKeyIds, Transaction } from './state.js';
import { checkStagedTargetsSignatures } from './targets.js';
import { mergeSignatures, replaceKey, stagedProd, stagedSigned, updatesJson } from './transaction.js';
import { checkProdMatchesCi, checkStagedRoot } from './validate.js';

export function updatesRoutes(practice: PracticeContext): void {
  const { app, state, opts, now, caller, exclusive, fail, applyDelay } = practice;

  // E9
  // Read in the mutation queue too: a GET never sees a PUT half persisted (signers re-read, then merge).
  app.get(`${repo}/root/updates`, async () => exclusive(async () => updatesJson(state, now())));

  // E10 init
  app.post(`${repo}/root/updates`, async (req, reply) =>
    exclusive(async () => {
      const body = bodyObject(req, true);
      onlyFields(body, ['message', 'first-time', 'shortcut'], 3);
      const message = body['message'] ?? '';
      const firstTime = body['first-time'] ?? false;
      const shortcut = body['shortcut'] ?? false;
      const errors: string[] = [];
      if (typeof message !== 'string') errors.push('rule 3: "message" must be a string');
      else if (message.length > MAX_MESSAGE || !isPrintableAscii(message)) {
        errors.push(`rule 3: "message" must be printable ASCII, at most ${MAX_MESSAGE} characters (it is signed into x-changelog)`);
      }
      if (typeof firstTime !== 'boolean') errors.push('rule 3: "first-time" must be a boolean');
      if (typeof shortcut !== 'boolean') errors.push('rule 3: "shortcut" must be a boolean');
      if (errors.length > 0 || typeof message !== 'string' || typeof firstTime !== 'boolean' || typeof shortcut !== 'boolean') {
        throw new ApiFailure(400, 'Invalid request body', errors);
      }
      if (state.transaction !== undefined) throw new ApiFailure(409, ONLY_ONE, [`rule 1: a transaction is open (status ${state.transaction.status}); cancel or apply it first`]);

      let firstRoot: { sec: string; pub: string } | undefined;
      if (firstTime) {
        const sec = await state.serverKey('first-root.sec');
        const pub = await state.serverKey('first-root.pub');
        if (!state.config.firstTimePending || sec === undefined || pub === undefined) {
          throw new ApiFailure(400, 'First-time TUF root updates are not possible for this Factory', [
            'rule 6: the offline root key was already handed to the Factory owner',
          ]);
        }
        firstRoot = { sec: Buffer.from(sec).toString('utf8'), pub: Buffer.from(pub).toString('utf8') };
      }

      const at = now();
      const who = caller(req).polisId;
      const ci = state.rootDocument('ci');
      const prod = state.rootDocument('prod');
      const changelog: JsonObject = { 'polis-id': who, message, timestamp: stamp(at) };
      const ciSigned = stagedSigned(ci.signed, changelog);
      const tx: Transaction = {
        txid: newTxid(),
        status: 'STARTED',
        firstTime,
        shortcut,
        message,
        createdBy: who,
        createdAt: stamp(at),
        updatedBy: who,
        updatedAt: stamp(at),
        changelog,
        baseVersion: state.version('ci'),
        ciRoot: { signatures: [], signed: ciSigned },
        // The staged prod root is the staged CI root with the production targets threshold.
        prodRoot: { signatures: [], signed: stagedProd(ciSigned, prod.signed) },
        signed: false,
      };
      await state.saveTransaction(tx);
      if (firstRoot === undefined) return { txid: tx.txid };
      await state.saveConfig({ ...state.config, firstTimePending: false });
      // The key objects go out byte for byte as stored (fioctl saves them verbatim).
      return reply
        .type('application/json; charset=utf-8')
        .send(`{"txid":${JSON.stringify(tx.txid)},"first_root.sec":${firstRoot.sec},"first_root.pub":${firstRoot.pub}}`);
    }),
  );

  // E11 stage signed roots
  app.put(`${repo}/root/updates`, async (req, reply) =>
    exclusive(async () => {
      if (practice.faults.putStatus !== undefined) {
        const status = practice.faults.putStatus;
        if (practice.faults.putOnce === true) practice.faults = { ...practice.faults, putStatus: undefined, putOnce: undefined };
        return fail(reply, status, 'Injected fault: PUT refused');
      }
      const body = bodyObject(req, true);
      onlyFields(body, ['txid', 'ci-root', 'prod-root', 'targets-signatures', 'waves-signatures'], 11);
      const tx = openTransaction(state, txidOf(body), caller(req), 2);
      if (tx.status !== 'STARTED') throw new ApiFailure(423, APPLYING, [APPLYING_LINE]);
      for (const f of ['ci-root', 'prod-root']) {
        if (body[f] === undefined) throw new ApiFailure(400, 'Invalid request body', [`rule 11: "${f}" is required`]);
      }
      const errors: string[] = [];
      const maps: Partial<Record<'targets-signatures' | 'waves-signatures', JsonObject>> = {};
      for (const f of ['targets-signatures', 'waves-signatures'] as const) {
        const v = body[f];
        if (v === undefined || v === null) continue;
        if (!isJsonObject(v)) throw new ApiFailure(400, 'Invalid request body', [`rule 11: "${f}" must be an object`]);
        maps[f] = v;
      }
      const at = now();
      const online = tx.onlineKeys ?? state.config.onlineKeys;
      // Partly signed roots are staged (holders sign one after the other); apply checks the thresholds.
      const ci = checkStagedRoot(currentRoot(state, 'ci'), body['ci-root'], 'ci-root', at, { thresholds: false });
      const prod = checkStagedRoot(currentRoot(state, 'prod'), body['prod-root'], 'prod-root', at, { thresholds: false });
      errors.push(...ci.errors, ...prod.errors);
      if (ci.root !== undefined && prod.root !== undefined) errors.push(...checkProdMatchesCi(ci.root, prod.root));
      if (ci.malformed || prod.malformed) throw new ApiFailure(400, 'Invalid TUF root', errors);
      // Rule 32 (strict): no targets-key rotation or deletion while a wave is active.
      if (opts.strictWaves === true && ci.root !== undefined) {
        const blocked = await strictWavesRefusal(state, ci.root, online.targets);
        if (blocked.length > 0) throw new ApiFailure(409, TARGETS_WAVE, blocked);
      }
      const ctx = {
        current: currentRoot(state, 'ci'),
        changelog: tx.changelog,
        previous: tx.ciRoot.signed,
        online,
        caller: caller(req).polisId,
        now: at,
        ownerMustBeCaller: opts.ownerMustBeCaller ?? true,
      };
      if (ci.root !== undefined) errors.push(...checkStagingRules(ci.root, 'ci-root', ctx));
      if (prod.root !== undefined) errors.push(...checkStagingRules(prod.root, 'prod-root', ctx));
      // Rule 25: staged signatures for production tags and active waves.
      const sigErrors: string[] = [];
      if (prod.root !== undefined) {
        if (maps['targets-signatures'] !== undefined) {
          sigErrors.push(...checkStagedTargetsSignatures('targets-signatures', maps['targets-signatures'], await state.targetsFile('prod'), prod.root, online.targets));
        }
        if (maps['waves-signatures'] !== undefined) {
          sigErrors.push(...checkStagedTargetsSignatures('waves-signatures', maps['waves-signatures'], await state.targetsFile('waves'), prod.root, online.targets));
        }
      }
      if (sigErrors.length > 0) throw new ApiFailure(400, 'Invalid targets signatures', sigErrors.map((e) => `rule 25: ${e}`));
      if (errors.length > 0) throw new ApiFailure(422, 'The staged TUF roots were refused', errors);
      await state.saveTransaction({
        ...tx,
        ciRoot: cloneJson(body['ci-root'] ?? null) as RootDocument,
        prodRoot: cloneJson(body['prod-root'] ?? null) as RootDocument,
        signed: ci.thresholdErrors.length === 0 && prod.thresholdErrors.length === 0,
        unsignedReasons: [...ci.thresholdErrors, ...prod.thresholdErrors],
        updatedBy: caller(req).polisId,
        updatedAt: stamp(at),
        ...mergeSignatures(tx, maps),
      });
      return {};
    }),
  );

  // E12 apply: checks and APPLYING, then publishing. With `applyDelayMs` the transaction waits in
  // APPLYING between the two (other requests answered meanwhile); without it both run as one step.
  app.post(`${repo}/root/updates/apply`, async (req, reply) => {
    const body = bodyObject(req, false);
    onlyFields(body, ['txid'], 4);
    const txid = txidOf(body);
    const publish = async (txidApplying: string, injected: number | undefined): Promise<unknown> => {
      const tx = state.transaction;
      // Another apply of the same transaction finished it meanwhile.
      if (tx === undefined || tx.txid !== txidApplying) return {};
      if (state.version('ci') < tx.baseVersion + 1) await state.appendRoot('ci', tx.ciRoot);
      if (injected !== undefined) return fail(reply, injected, 'Injected fault: apply interrupted after the CI root was published');
      if (state.version('prod') < tx.baseVersion + 1) {
        const after = await targetsAfterApply(state, tx);
        await state.saveTargetsFile('prod', after.prod);
        await state.saveTargetsFile('waves', after.waves);
        await state.appendRoot('prod', tx.prodRoot);
      }
      if (tx.onlineKeys !== undefined) await state.saveConfig({ ...state.config, onlineKeys: tx.onlineKeys });
      if (tx.firstTime) {
        // The owner's key has replaced it: the server no longer keeps the first root key.
        await state.removeServerKey('first-root.sec');
        await state.removeServerKey('first-root.pub');
      }
      await state.clearTransaction();
      return {};
    };
    const slow = practice.faults.applyDelayMs ?? 0;
    const started = await exclusive(async (): Promise<{ done: unknown } | { txid: string; injected: number | undefined }> => {
      const tx = openTransaction(state, txid, caller(req), 35);
      const injected = practice.faults.applyStatus;
      if (injected !== undefined && practice.faults.applyOnce === true) practice.faults = { ...practice.faults, applyStatus: undefined, applyOnce: undefined };
      if (injected !== undefined && injected < 500) return { done: fail(reply, injected, 'Injected fault: apply refused') };
      if (!tx.signed) {
        throw new ApiFailure(422, 'The staged TUF root updates are not signed by enough root keys', tx.unsignedReasons ?? [
          'rule 29: PUT signed ci-root and prod-root before applying',
        ]);
      }
      if (tx.status === 'STARTED') {
        // Time may have passed since the PUT: the staged roots must still be acceptable.
        const at = now();
        const errors = [
          ...checkStagedRoot(currentRoot(state, 'ci'), tx.ciRoot, 'ci-root', at).errors,
          ...checkStagedRoot(currentRoot(state, 'prod'), tx.prodRoot, 'prod-root', at).errors,
        ];
        if (opts.strictWaves === true) {
          const blocked = await strictWavesRefusal(state, parseRoot(tx.ciRoot, 'staged ci-root'), (tx.onlineKeys ?? state.config.onlineKeys).targets);
          if (blocked.length > 0) throw new ApiFailure(409, TARGETS_WAVE, blocked);
        }
        // Rules 31, 32: every production tag and active wave meets the new production targets threshold.
        errors.push(...(await targetsAfterApply(state, tx)).errors);
        if (errors.length > 0) throw new ApiFailure(422, 'The staged TUF roots can no longer be applied', errors);
      }
      await state.saveTransaction({ ...tx, status: 'APPLYING', updatedAt: stamp(now()) });
      if (slow === 0) return { done: await publish(tx.txid, injected) };
      return { txid: tx.txid, injected };
    });
    if ('done' in started) return started.done;
    await applyDelay(slow);
    return exclusive(() => publish(started.txid, started.injected));
  });

  // E13 cancel (no body)
  app.post(`${repo}/root/updates/cancel`, async () =>
    exclusive(async () => {
      const tx = state.transaction;
      if (tx === undefined) throw new ApiFailure(404, NONE_IN_PROGRESS, ['rule 2: there is no open transaction to cancel (status NONE)']);
      if (tx.status === 'APPLYING') throw new ApiFailure(423, 'TUF root updates cannot be canceled while they are being applied', ['rule 2: a transaction in APPLYING cannot be canceled; re-run apply']);
      await state.clearTransaction();
      return {};
    }),
  );

  // E14 gen-online-keys
  app.post(`${repo}/root/updates/gen-online-keys`, async (req) =>
    exclusive(async () => {
      const body = bodyObject(req, true);
      onlyFields(body, ['txid', 'key-type', 'targets', 'snapshot', 'timestamp'], 26);
      const tx = openTransaction(state, txidOf(body), caller(req), 2);
      if (tx.status !== 'STARTED') throw new ApiFailure(423, APPLYING, [APPLYING_LINE]);
      const keyType = body['key-type'];
      if (keyType !== 'ED25519' && keyType !== 'RSA') throw new ApiFailure(400, 'Invalid request body', ['rule 26: "key-type" must be ED25519 or RSA']);
      const roles = (['targets', 'snapshot', 'timestamp'] as const).filter((r) => {
        const v = body[r];
        if (v !== undefined && v !== true) throw new ApiFailure(400, 'Invalid request body', [`rule 26: "${r}" may only be true`]);
        return v === true;
      });
      if (roles.length === 0) throw new ApiFailure(400, 'Invalid request body', ['rule 26: name at least one of targets, snapshot, timestamp']);
      const waves = Object.keys(await state.targetsFile('waves'));
      if (waves.length > 0) {
        throw new ApiFailure(409, 'The TUF online key rotation is not allowed while a wave is active',
          waves.map((w) => `rule 32: active wave "${w}" blocks the online key rotation (rule 28)`));
      }
      const expires = Date.parse(String(tx.ciRoot.signed['expires']));
      if (!(expires > now().getTime())) {
        throw new ApiFailure(422, 'The staged TUF root has a too low expires value', ['rule 28: the staged root has expired; rotate the root key first (it sets a new expiry)']);
      }
      const online: OnlineKeyIds = { ...(tx.onlineKeys ?? state.config.onlineKeys) };
      const ci = cloneJson(tx.ciRoot) as RootDocument;
      const prod = cloneJson(tx.prodRoot) as RootDocument;
      for (const role of roles) {
        const key = await generateKey(keyType === 'RSA' ? 'rsa' : 'ed25519');
        const id = keyIdFoundries(key.publicKey);
        const pair = archivePairFiles(key);
        await state.saveServerKey(`${role}-online-${id}.sec`, pair.sec);
        await state.saveServerKey(`${role}-online-${id}.pub`, pair.pub);
        for (const doc of [ci, prod]) replaceKey(doc.signed, role, online[role], id, newRootKeyJson('foundries', key.publicKey));
        online[role] = id;
      }
      ci.signatures = [];
      prod.signatures = [];
      await state.saveTransaction({ ...tx, ciRoot: ci, prodRoot: prod, onlineKeys: online, signed: false, updatedBy: caller(req).polisId, updatedAt: stamp(now()) });
      return {};
    }),
  );
}
