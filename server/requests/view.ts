/** The page's view of a request: SAS, summary, per document who signed, who still must and how. Pure. */
import type { RequestView } from '../../shared/requests-api.js';
import { shortKeyId } from '../tuf/diff.js';
import { missingCommands } from './cli.js';
import { payloadFileName, type CheckedRequest } from './request.js';
import { tally, type RequestSignature } from './signatures.js';

export function requestView(checked: CheckedRequest, have: readonly RequestSignature[], now: Date): RequestView {
  const req = checked.request;
  const t = tally(checked, have);
  const holder = (id: string, signed: boolean): RequestView['payloads'][number]['thresholds'][number]['holders'][number] => ({
    keyid: id,
    short: shortKeyId(id),
    owner: req.keys[id]?.owner ?? '',
    algorithm: req.keys[id]?.algorithm ?? '',
    signed,
  });
  const missing = missingCommands(checked, have, 'REQ.json').map((m) => ({
    keyid: m.keyid,
    short: shortKeyId(m.keyid),
    owner: req.keys[m.keyid]?.owner ?? '',
    algorithm: req.keys[m.keyid]?.algorithm ?? '',
    commands: m.commands,
  }));
  return {
    id: req.id,
    sas: { words: req.sas.words, hex: req.sas.hex },
    createdAt: req.createdAt,
    expiresAt: req.expiresAt,
    expired: Date.parse(req.expiresAt) <= now.getTime(),
    target: req.target.description,
    summary: req.summary,
    note: req.note ?? '',
    complete: t.complete,
    payloads: t.payloads.map((p) => {
      const payload = req.payloads.find((x) => x.name === p.payload);
      return {
        name: p.payload,
        version: p.version,
        sha256: payload?.sha256 ?? '',
        bin: payload !== undefined ? `REQ.${payloadFileName(payload)}` : '',
        met: p.met,
        thresholds: p.thresholds.map((th) => ({
          source: th.source,
          version: th.version,
          threshold: th.threshold,
          signed: th.signed.length,
          met: th.met,
          holders: th.keyids.map((id) => holder(id, th.signed.includes(id))),
        })),
      };
    }),
    missing,
  };
}
