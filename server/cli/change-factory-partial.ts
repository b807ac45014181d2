/**
 * `change --factory` with keys that cannot meet every threshold: the new keys saved first, then the
 * roots signed with what the keys given can sign are staged (partly signed roots are accepted, rule
 * 23) and left open; the txid, the SAS and who must still sign are printed (exit 3). Other admins
 * add their signatures with `tuf-rotate sign --factory`; `publish --factory` applies.
 */
import type { FoundriesBackend } from '../backends/foundries.js';
import type { FoundriesClient } from '../backends/foundries-client.js';
import type { GeneratedKey } from '../change-keys.js';
import { describeNeed, stagedStatus, unmetNeeds } from '../factory-sign.js';
import { sasBlock, sasLine } from '../requests/sas.js';
import { signChangePlan } from '../tuf/changes.js';
import type { ChangePlan } from '../tuf/changes.js';
import type { Signer } from '../tuf/model.js';
import type { CliIo } from './io.js';

export const EXIT_WAITING = 3;

export async function stagePartly(
  io: CliIo,
  o: {
    client: FoundriesClient;
    backend: FoundriesBackend;
    plan: ChangePlan;
    signers: ReadonlyMap<string, Signer>;
    json: boolean;
    generated: GeneratedKey[];
    saveNewKeys: () => Promise<{ path: string; sha256: string } | undefined>;
  },
): Promise<number> {
  const signed = await signChangePlan(o.plan, o.signers);
  // Invariant 1: every new private key is saved and proven before anything leaves the machine.
  const archive = await o.saveNewKeys();
  if (archive !== undefined && !o.json) io.stdout(`New key archive saved: ${archive.path} (sha256 ${archive.sha256}).\n`);
  await o.client.put({ txid: '', ciRoot: signed.root, prodRoot: signed.prod ?? signed.root });
  const txid = o.backend.txid ?? '';
  const { sas, needs } = await stagedStatus(o.client);
  const unmet = unmetNeeds(needs);
  const factory = o.client.factory;
  if (o.json) {
    io.stdout(JSON.stringify({
      ok: false, waiting: true, staged: true, txid, sas, version: o.plan.newSigned.version, changes: o.plan.summary,
      signedBy: signed.signedBy, signatures: needs, missing: unmet, ...(archive !== undefined ? { archive } : {}),
    }) + '\n');
  } else {
    io.stdout(
      [
        o.plan.summary.join('\n'),
        '',
        `Staged on ${factory}, partly signed: transaction ${txid} (version ${o.plan.newSigned.version}). Nothing is published yet.`,
        sasBlock(sas),
        ...needs.map((n) => `  ${describeNeed(n)}`),
        '',
        'Each admin still to sign runs, with their own token and key archive (and compares the SAS above):',
        `  tuf-rotate sign --factory ${factory} --txid ${txid} --token-file THEIR.token --keys THEIR-KEYS.tgz`,
        `Then: tuf-rotate publish --factory ${factory} --txid ${txid}   (or cancel: tuf-rotate cancel --factory ${factory})`,
        `SAS: ${sasLine(sas)}`,
      ].join('\n') + '\n',
    );
  }
  return EXIT_WAITING;
}
