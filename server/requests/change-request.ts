/**
 * `tuf-rotate change --repo DIR … --request REQ.json`: when the keys given cannot meet every root
 * threshold, the planned root becomes a signing request instead of a stop. New keys are saved
 * (and proven) into --out first, so no request names a key that exists nowhere; the held keys and
 * the new keys sign at once; exit 3 while holders still have to sign.
 */
import path from 'node:path';
import { LocalRepoBackend } from '../backends/local-repo.js';
import type { Backend } from '../backends/backend.js';
import type { CliIo } from '../cli/io.js';
import { AppError } from '../errors.js';
import { fileHeldKey, type HeldKey, type KeyRing } from '../keyring.js';
import type { ChangePlan } from '../tuf/changes.js';
import { metadataToResign } from '../tuf/changes.js';
import type { PrivateKey } from '../tuf/private-key.js';
import type { Root } from '../tuf/model.js';
import { exists } from '../util/fs-atomic.js';
import { formatMissing, formatTally, WAITING, writeSigningRequest } from './cli.js';
import { servedTrustedBytes } from './files.js';
import { sasBlock } from './sas.js';

export interface ChangeRequestInput {
  reqFile: string;
  backend: Backend;
  current: Root;
  plan: ChangePlan;
  ring: KeyRing;
  generated: { role: string; key: PrivateKey }[];
  /** Saves the generated keys (the change command's own archive writer); called before anything else is written. */
  saveNewKeys: () => Promise<{ path: string; sha256: string } | undefined>;
  who: string;
  note?: string;
  now: Date;
  json: boolean;
}

export async function writeChangeRequest(io: CliIo, o: ChangeRequestInput): Promise<number> {
  if (!(o.backend instanceof LocalRepoBackend)) {
    throw new AppError('TARGET_NOT_CONFIGURED', 'A signing request from `change` is made for a standard repository (--repo DIR) so far.', 'On a Factory, the other admins sign the staged transaction.');
  }
  if (o.plan.dialect !== 'spec' || metadataToResign(o.plan).length > 0) {
    throw new AppError(
      'TARGET_NOT_CONFIGURED',
      'This change also re-signs targets, snapshot or timestamp metadata, which a signing request does not carry yet.',
      'Make the root-key changes (add/remove a key, thresholds, rotate the root key, refresh the expiry) in a request of their own.',
    );
  }
  if (!/\.json$/i.test(o.reqFile)) throw new AppError('BAD_USAGE', '--request must name a .json file (REQ.json).', 'Run "tuf-rotate help change".');
  if (await exists(o.reqFile)) throw new AppError('FILE_EXISTS', `${o.reqFile} already exists.`, 'A request file is never rewritten (its id binds it); choose a new name.');
  const archive = await o.saveNewKeys();
  const owners: Record<string, string> = {};
  for (const k of o.plan.newKeys) if (k.owner !== undefined) owners[k.keyid] = k.owner;
  const held: HeldKey[] = [...o.ring.keys, ...o.generated.map((g) => fileHeldKey(`new ${g.role} key`, g.key))];
  const w = await writeSigningRequest({
    reqFile: o.reqFile,
    input: {
      dialect: 'spec',
      target: { kind: 'repo', description: `repository ${path.basename(o.backend.dir)}` },
      trusted: [{ name: 'root', bytes: await servedTrustedBytes(o.backend, o.current) }],
      payloads: [{ name: 'root', trusted: 'root', signed: o.plan.newSigned }],
      owners,
      ...(o.note !== undefined ? { note: o.note } : {}),
      now: o.now,
    },
    held,
    who: o.who,
  });
  const req = w.request;
  if (o.json) {
    io.stdout(JSON.stringify({ ok: true, waiting: !w.tally.complete, request: req.id, sas: req.sas, file: o.reqFile, bins: w.bins, changes: o.plan.summary, ...(archive ? { archive } : {}) }) + '\n');
  } else {
    io.stdout(
      [
        sasBlock(req.sas),
        ...(archive ? [`New key archive saved: ${archive.path} (sha256 ${archive.sha256}).`] : []),
        `Signing request written: ${o.reqFile} (open until ${req.expiresAt}); bytes to sign: ${w.bins.join(', ')}.`,
        ...req.summary.map((l) => `  ${l}`),
        ...formatTally(req, w.tally),
        ...formatMissing(w.checked, w.collected.signatures, o.reqFile),
      ].join('\n') + '\n',
    );
  }
  return w.tally.complete ? 0 : WAITING;
}
