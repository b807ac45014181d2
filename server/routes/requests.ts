/** The page's signing-request panel (shared/requests-api.ts): open a request, import a signature. Stateless. */
import type { FastifyInstance } from 'fastify';
import { importRequestSignature, openRequest, verifyCeremonyRecord, type ImportReply, type ImportRequestBody, type OpenRequestBody, type RecordView, type RequestView } from '../../shared/requests-api.js';
import { AppError } from '../errors.js';
import { checkRequest, parseRequest, type CheckedRequest } from '../requests/request.js';
import {
  acceptSignature,
  assertSameRequest,
  decodeSig,
  encodeSig,
  tryParseSignaturesFile,
  type RequestSignature,
} from '../requests/signatures.js';
import { eventHash, parseRecord, verifyRecord } from '../requests/record.js';
import { requestView } from '../requests/view.js';
import { shortKeyId } from '../tuf/diff.js';
import { addRoute } from './context.js';

/** The signatures the page says it holds, each verified again (the page is not trusted with them). */
function reverify(checked: CheckedRequest, sigs: readonly RequestSignature[]): RequestSignature[] {
  const out: RequestSignature[] = [];
  for (const s of sigs) {
    const raw = decodeSig(checked.request.dialect, s.sig) ?? new Uint8Array();
    const a = acceptSignature(checked, out, { payload: s.payload, keyid: s.keyid, raw }, `the collected signature by ${shortKeyId(s.keyid)}`);
    out.push({ payload: a.payload, keyid: a.keyid, sig: encodeSig(checked.request.dialect, a.raw) });
  }
  return out;
}

export function requestRoutes(app: FastifyInstance, now: () => Date): void {
  addRoute(app, openRequest, async (req): Promise<RequestView> => {
    const body = req.body as OpenRequestBody;
    const checked = checkRequest(parseRequest(JSON.stringify(body.request)), { now: now(), allowExpired: true });
    return requestView(checked, reverify(checked, body.signatures), now());
  });
  addRoute(app, importRequestSignature, async (req): Promise<ImportReply> => {
    const body = req.body as ImportRequestBody;
    const checked = checkRequest(parseRequest(JSON.stringify(body.request)), { now: now() });
    const have = reverify(checked, body.signatures);
    const bytes = new Uint8Array(Buffer.from(body.file, 'base64'));
    if (bytes.length === 0) throw new AppError('BAD_REQUEST', `${body.name} is empty.`, 'Drop the signatures file or the raw signature the holder sent.');
    const added: RequestSignature[] = [];
    const file = tryParseSignaturesFile(bytes);
    if (file !== undefined) {
      assertSameRequest(file, checked.request, body.name);
      for (const s of file.signatures) {
        const raw = decodeSig(checked.request.dialect, s.sig) ?? new Uint8Array();
        const a = acceptSignature(checked, [...have, ...added], { payload: s.payload, keyid: s.keyid, raw }, `${body.name} (${s.payload}, key ${shortKeyId(s.keyid)})`);
        added.push({ payload: a.payload, keyid: a.keyid, sig: encodeSig(checked.request.dialect, a.raw) });
      }
    } else {
      const a = acceptSignature(
        checked,
        have,
        { ...(body.payload !== undefined ? { payload: body.payload } : {}), ...(body.keyid !== undefined ? { keyid: body.keyid } : {}), raw: undefined, file: bytes },
        `the raw signature ${body.name}`,
      );
      added.push({ payload: a.payload, keyid: a.keyid, sig: encodeSig(checked.request.dialect, a.raw) });
    }
    const all = [...have, ...added];
    return { added, signatures: all, view: requestView(checked, all, now()) };
  });
  addRoute(app, verifyCeremonyRecord, async (req): Promise<RecordView> => {
    const rec = parseRecord(JSON.stringify((req.body as { record: unknown }).record));
    const check = verifyRecord(rec);
    const s = rec.signed;
    return {
      ok: check.ok,
      request: s.request,
      sas: s.sas,
      summary: s.summary,
      target: typeof s.target['description'] === 'string' ? s.target['description'] : '',
      published: s.published,
      head: check.head,
      signedBy: check.signedBy,
      rootThreshold: check.rootThreshold,
      events: s.events.map((e) => ({ seq: e.seq, at: e.at, who: e.who, what: e.what, data: JSON.stringify(e.data), hash: eventHash(e), prev: e.prev })),
    };
  });
}
