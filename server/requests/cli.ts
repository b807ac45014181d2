/**
 * What the request commands share: signing with held keys, recording arrivals, the "who still
 * signs" lines, and the `status REQ.json` / `publish REQ.json` paths that status.ts and publish.ts
 * delegate to.
 */
import path from 'node:path';
import { publishRotation } from '../ceremony.js';
import { LocalRepoBackend } from '../backends/local-repo.js';
import { one, parseArgs, usage } from '../cli/args.js';
import { formatReport } from '../cli/format.js';
import type { CliIo } from '../cli/io.js';
import { now as clock, resolvePath } from '../cli/io.js';
import { AppError } from '../errors.js';
import type { HeldKey } from '../keyring.js';
import { shortKeyId } from '../tuf/diff.js';
import type { Json, JsonObject } from '../tuf/json.js';
import { samePublicKey } from '../tuf/public-key.js';
import { parseRoot, toDocument } from '../tuf/metadata.js';
import type { Root, Signer } from '../tuf/model.js';
import { verifySignature } from '../tuf/sign.js';
import { verifyRootUpdate } from '../tuf/verify.js';
import { readFileLimited, sha256Hex, writeFileAtomic } from '../util/fs-atomic.js';
import { companionPath, loadHeldKeys, payloadPath, readCollected, readRequestFile, recordPath, writeCollected, writeRequestFiles } from './files.js';
import { appendEvent, eventHash, signRecord } from './record.js';
import { buildRequest, checkRequest, keyNames, type BuildRequestInput, type CheckedRequest, type SigningRequest } from './request.js';
import { sasBlock, sasLine } from './sas.js';
import { emptyCollected, encodeSig, missingKeys, signatureJson, signaturesFromDocument, tally, type Collected, type CollectedSignature, type RequestSignature, type Tally } from './signatures.js';

export const WAITING = 3;

/**
 * The one call a command needs to stop at a request (`request`, and `change --request` later):
 * builds and checks the request, collects the valid signatures the next root already carries and
 * those the held keys can make (each verified), writes REQ.json, the .bin files and REQ.sigs.json.
 */
export async function writeSigningRequest(opts: {
  reqFile: string;
  input: BuildRequestInput;
  held: readonly HeldKey[];
  who: string;
  /** Signatures a partly signed next root carries, per payload name. */
  existing?: Record<string, Json[]>;
  existingFrom?: string;
}): Promise<{ request: SigningRequest; checked: CheckedRequest; collected: Collected; bins: string[]; dropped: number; tally: Tally }> {
  const t = opts.input.now;
  const request = buildRequest(opts.input);
  const checked = checkRequest(request, { now: t });
  let state = logEvent(emptyCollected(request), 'request-written', opts.who, t, {
    request: request.id,
    sas: request.sas.hex,
    target: request.target.description,
    trusted: request.trusted.map((x) => `${x.name} v${x.version} sha256 ${x.sha256}`),
    payloads: request.payloads.map((p) => `${p.name} v${p.version} sha256 ${p.sha256}`),
  });
  let dropped = 0;
  for (const [payload, sigs] of Object.entries(opts.existing ?? {})) {
    const carried = signaturesFromDocument(checked, payload, sigs);
    dropped += carried.skipped;
    for (const a of carried.accepted) {
      state = collect(state, { payload: a.payload, keyid: a.keyid, sig: encodeSig(request.dialect, a.raw) }, opts.existingFrom ?? 'the next root', opts.who, t);
    }
  }
  if (opts.held.length > 0) {
    for (const s of await signWithHeld(checked, opts.held)) {
      if (state.signatures.some((h) => h.payload === s.payload && h.keyid === s.keyid)) continue;
      state = collect(state, s, `tuf-rotate (${s.label})`, opts.who, t);
    }
  }
  const bins = await writeRequestFiles(opts.reqFile, request);
  await writeCollected(opts.reqFile, state);
  return { request, checked, collected: state, bins, dropped, tally: tally(checked, state.signatures) };
}

/** The operator's name for the event log: --who, else $USER. */
export function whoOf(who: string | undefined, io: CliIo): string {
  return who ?? io.env['USER'] ?? 'unnamed operator';
}

function holderName(req: SigningRequest, id: string): string {
  const owner = req.keys[id]?.owner;
  return owner !== null && owner !== undefined ? `${owner} (${shortKeyId(id)})` : shortKeyId(id);
}

/** `old root v2: 1 of 2 (alice (1a2b3c4d) ✓, bob (…) …); new root v3: …` per document. */
export function formatTally(req: SigningRequest, t: Tally): string[] {
  return t.payloads.map((p) => {
    const parts = p.thresholds.map((th) => {
      const who = th.keyids.map((id) => `${holderName(req, id)} ${th.signed.includes(id) ? '✓' : '…'}`).join(', ');
      return `${th.source === 'trusted' ? 'old' : 'new'} root v${th.version}: ${th.signed.length} of ${th.threshold} (${who})${th.met ? ' met' : ''}`;
    });
    return `${p.payload} v${p.version}: ${parts.join('; ')}`;
  });
}

/** For every key still needed: the tuf-rotate command, and the exact openssl command over the extracted bytes. */
export function missingCommands(checked: CheckedRequest, have: readonly RequestSignature[], reqFile: string): { keyid: string; commands: string[] }[] {
  const req = checked.request;
  const base = path.basename(reqFile);
  return missingKeys(checked, have).map((id) => {
    const alg = req.keys[id]?.algorithm ?? '?';
    const commands = [`with tuf-rotate: tuf-rotate sign ${base} --keys KEY.pem   (send back the signatures file it writes)`];
    for (const p of req.payloads) {
      const doc = checked.payloads.get(p.name);
      if (doc === undefined || !doc.requirement.thresholds.some((t) => t.keyids.includes(id))) continue;
      const bin = path.basename(payloadPath(reqFile, p));
      const sig = `${shortKeyId(id)}.${p.name}.sig`;
      let cmd: string;
      if (alg.startsWith('rsa')) {
        cmd = `openssl pkeyutl -sign -rawin -digest sha256 -inkey KEY.pem -in ${bin} -out ${sig} -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -pkeyopt rsa_mgf1_md:sha256`;
      } else if (alg.startsWith('ecdsa')) {
        cmd = `openssl pkeyutl -sign -rawin -digest sha256 -inkey KEY.pem -in ${bin} -out ${sig}`;
      } else {
        cmd = `openssl pkeyutl -sign -rawin -inkey KEY.pem -in ${bin} -out ${sig}`;
      }
      commands.push(`with openssl (${p.name}, bytes sha256 ${p.sha256.slice(0, 16)}…): ${cmd}`);
      commands.push(`  then the coordinator runs: tuf-rotate sign ${base} --import ${sig} --keyid ${id}`);
    }
    return { keyid: id, commands };
  });
}

export function formatMissing(checked: CheckedRequest, have: readonly RequestSignature[], reqFile: string): string[] {
  const req = checked.request;
  const missing = missingCommands(checked, have, reqFile);
  if (missing.length === 0) return [];
  const lines = ['Who still has to sign, and how:'];
  for (const m of missing) {
    lines.push(`  ${holderName(req, m.keyid)}, ${req.keys[m.keyid]?.algorithm ?? '?'}:`, ...m.commands.map((c) => `    ${c}`));
  }
  return lines;
}

/**
 * Signs every document each held key is required for (and only those), verifying each signature
 * right after making it. Refuses keys none of which the request needs, naming the keys it does.
 */
export async function signWithHeld(checked: CheckedRequest, keys: readonly HeldKey[]): Promise<(RequestSignature & { label: string })[]> {
  const req = checked.request;
  const out: (RequestSignature & { label: string })[] = [];
  for (const held of keys) {
    for (const [name, doc] of checked.payloads) {
      const ids = [...new Set(doc.requirement.thresholds.flatMap((t) => t.keyids))];
      for (const id of ids) {
        const pub = checked.publicKeys.get(id);
        if (pub === undefined || !samePublicKey(pub, held.publicKey)) continue;
        if (out.some((s) => s.payload === name && s.keyid === id)) continue;
        const raw = await held.signer.sign(doc.bytes);
        if (!verifySignature(pub, doc.bytes, raw)) {
          throw new AppError('SIGNING_FAILED', `the signature ${held.label} made for ${name} does not verify with key ${shortKeyId(id)}`, 'The key or device is faulty; nothing was written.');
        }
        out.push({ payload: name, keyid: id, sig: encodeSig(req.dialect, raw), label: held.label, ...(req.dialect === 'foundries' ? { method: String(signatureJson('foundries', { payload: name, keyid: id, sig: '' }, pub)['method']) } : {}) });
      }
    }
  }
  if (out.length === 0) {
    const required = [...new Set([...checked.payloads.values()].flatMap((d) => d.requirement.thresholds.flatMap((t) => t.keyids)))];
    throw new AppError(
      'SIGNATURE_KEY_NOT_REQUIRED',
      `none of the keys given (${keys.map((k) => k.label).join(', ')}) is needed by this request`,
      `The keys that sign it: ${keyNames(req, required)}.`,
    );
  }
  return out;
}

/** Adds a verified signature to the collected state, with its event. */
export function collect(c: Collected, s: RequestSignature, from: string, who: string, at: Date, extra: JsonObject = {}): Collected {
  const sig: CollectedSignature = { payload: s.payload, keyid: s.keyid, ...(s.method !== undefined ? { method: s.method } : {}), sig: s.sig, from, at: at.toISOString() };
  return {
    ...c,
    signatures: [...c.signatures, sig],
    events: appendEvent(c.events, { at, who, what: 'signature-added', data: { payload: s.payload, keyid: s.keyid, from, verified: true, ...extra } }),
  };
}

export function logEvent(c: Collected, what: string, who: string, at: Date, data: JsonObject): Collected {
  return { ...c, events: appendEvent(c.events, { at, who, what, data }) };
}

/** The request, checked (an expired one is allowed only where `allowExpired`), and its collected state. */
export async function openRequest(io: CliIo, file: string, opts: { allowExpired?: boolean; pinned?: Root[] } = {}): Promise<{ reqFile: string; checked: CheckedRequest; collected: Collected | undefined }> {
  const reqFile = resolvePath(io, file);
  const req = await readRequestFile(reqFile);
  const checked = checkRequest(req, { now: clock(io), ...(opts.allowExpired ? { allowExpired: true } : {}), ...(opts.pinned ? { pinned: opts.pinned } : {}) });
  return { reqFile, checked, collected: await readCollected(reqFile, req) };
}

function statusJson(checked: CheckedRequest, t: Tally, reqFile: string, have: readonly RequestSignature[]): JsonObject {
  const req = checked.request;
  return {
    request: req.id,
    sas: { words: req.sas.words, hex: req.sas.hex },
    expiresAt: req.expiresAt,
    complete: t.complete,
    payloads: t.payloads.map((p) => ({
      payload: p.payload,
      version: p.version,
      met: p.met,
      thresholds: p.thresholds.map((th) => ({ source: th.source, version: th.version, threshold: th.threshold, keyids: th.keyids, signed: th.signed, met: th.met })),
    })),
    missing: missingKeys(checked, have).map((id) => ({ keyid: id, owner: req.keys[id]?.owner ?? null, algorithm: req.keys[id]?.algorithm ?? '' })),
    companion: companionPath(reqFile),
  };
}

/** `tuf-rotate status REQ.json [--json]`: SAS, per document who signed, who still must and how. Exit 0 when complete, 3 while waiting. */
export async function runRequestStatus(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: [], flags: ['json'] });
  if (args.positionals.length !== 1) throw usage('status takes one request file.');
  const { reqFile, checked, collected } = await openRequest(io, args.positionals[0] ?? '', { allowExpired: true });
  const have = collected?.signatures ?? [];
  const t = tally(checked, have);
  const req = checked.request;
  if (args.flags.has('json')) {
    io.stdout(JSON.stringify({ ok: true, ...statusJson(checked, t, reqFile, have) }) + '\n');
  } else {
    const expired = Date.parse(req.expiresAt) <= clock(io).getTime();
    io.stdout(
      [
        sasBlock(req.sas),
        `Request ${req.id}${expired ? ` (expired at ${req.expiresAt}: no more signatures are taken)` : `, open until ${req.expiresAt}`}`,
        ...formatTally(req, t),
        ...(t.complete ? [`Every threshold is met: run tuf-rotate publish ${path.basename(reqFile)} TARGET.`] : formatMissing(checked, have, reqFile)),
      ].join('\n') + '\n',
    );
  }
  return t.complete ? 0 : WAITING;
}

/**
 * `tuf-rotate publish REQ.json --repo DIR [--keys KEYS] [--record OUT.json] [--who NAME]`: assembles
 * the collected signatures into the new root, verifies it against what the target serves, publishes
 * when every threshold is met (exit 3 otherwise), and writes the signed ceremony record when the
 * keys given include a root key of the new root.
 */
export async function runRequestPublish(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['repo', 'keys', 'record', 'who'], flags: ['json', 'yes'] });
  if (args.positionals.length !== 1) throw usage('publish takes one request file: tuf-rotate publish REQ.json --repo DIR.');
  const repo = one(args, 'repo');
  if (repo === undefined) {
    throw new AppError('TARGET_NOT_CONFIGURED', 'Publishing a signing request needs --repo DIR; publishing one to a Factory is not supported yet.', 'Run tuf-rotate publish REQ.json --repo DIR.');
  }
  const json = args.flags.has('json');
  const who = whoOf(one(args, 'who'), io);
  const { reqFile, checked, collected } = await openRequest(io, args.positionals[0] ?? '', { allowExpired: true });
  const req = checked.request;
  if (req.payloads.length !== 1 || req.dialect !== 'spec') {
    throw new AppError('TARGET_NOT_CONFIGURED', 'Only a standard repository request (one spec-dialect root) can be published from a request file so far.', 'Publish a Factory request from the ceremony.');
  }
  const payload = req.payloads[0];
  const doc = payload !== undefined ? checked.payloads.get(payload.name) : undefined;
  if (payload === undefined || doc === undefined) throw new AppError('INTERNAL', 'request without payload', 'Report this as a bug.');
  let state = collected ?? { format: 'tuf-rotate/collected-signatures' as const, formatVersion: 1 as const, request: req.id, signatures: [], events: [] };
  const t = tally(checked, state.signatures);
  if (!t.complete) {
    if (json) io.stdout(JSON.stringify({ ok: false, waiting: true, ...statusJson(checked, t, reqFile, state.signatures) }) + '\n');
    else io.stdout([sasLine(req.sas), ...formatTally(req, t), ...formatMissing(checked, state.signatures, reqFile), 'Nothing was published.'].join('\n') + '\n');
    return WAITING;
  }
  const backend = new LocalRepoBackend(resolvePath(io, repo));
  const current = await backend.currentRoot();
  if (current.version !== doc.trusted.version || JSON.stringify(current.signedJson) !== JSON.stringify(doc.trusted.signedJson)) {
    throw new AppError(
      'TARGET_CONFLICT',
      `${backend.dir} serves root version ${current.version}, not the version ${doc.trusted.version} this request starts from`,
      'The repository moved on: make a new request from what it serves now; these signatures are for other bytes.',
    );
  }
  // Only verified signatures, one per key ID, of keys a threshold names: never placeholders.
  const sigs = state.signatures
    .filter((s) => s.payload === payload.name)
    .map((s) => {
      const pub = checked.publicKeys.get(s.keyid);
      if (pub === undefined) throw new AppError('INTERNAL', 'collected signature for an unknown key', 'Report this as a bug.');
      return signatureJson(req.dialect, s, pub);
    });
  const document = toDocument(payload.signed, sigs);
  const next = parseRoot(JSON.stringify(document), 'the assembled root');
  const at = clock(io);
  const report = verifyRootUpdate(current, next, { now: at });
  state = logEvent(state, 'verified', who, at, { payload: payload.name, version: next.version, ok: report.ok, failed: report.results.filter((r) => r.status === 'fail').map((r) => r.rule) });
  if (!report.ok) {
    await writeCollected(reqFile, state);
    if (!json) io.stdout(formatReport(report) + '\n');
    throw new AppError('VERIFY_FAILED', `The assembled root v${next.version} does not pass the client rules against version ${current.version}.`, 'Nothing was published; see the checklist above.');
  }
  const published = await publishRotation(backend, current, { document, prod: undefined }, at);
  const servedBytes = await readFileLimited(published.location, 1024 * 1024, 'published root');
  const sha = sha256Hex(servedBytes);
  state = logEvent(state, 'published', who, new Date(), { version: published.readBack.version, location: published.location, sha256: sha, signatures: sigs.length });
  await writeCollected(reqFile, state);

  // The record, signed with the new root keys held here.
  let recordFile: string | undefined;
  const keysIn = (args.options.get('keys') ?? []).map((k) => resolvePath(io, k));
  const rootRole = published.readBack.roles['root'];
  if (keysIn.length > 0 && rootRole !== undefined) {
    const held = await loadHeldKeys(keysIn);
    const signers: { keyid: string; signer: Signer }[] = [];
    for (const id of rootRole.keyids) {
      const pub = checked.publicKeys.get(id);
      const h = pub !== undefined ? held.find((k) => samePublicKey(k.publicKey, pub)) : undefined;
      if (h !== undefined) signers.push({ keyid: id, signer: h.signer });
    }
    if (signers.length > 0) {
      recordFile = resolvePath(io, one(args, 'record') ?? recordPath(reqFile));
      await writeRecord(recordFile, state, req, backend.description, published.readBack.version, sha, published.location, servedBytes, signers);
    }
  }
  if (json) {
    io.stdout(JSON.stringify({ ok: true, request: req.id, location: published.location, version: published.readBack.version, sha256: sha, ...(recordFile ? { record: recordFile } : {}) }) + '\n');
  } else {
    io.stdout(
      [
        sasLine(req.sas),
        ...formatTally(req, t),
        `Root version ${published.readBack.version} published to ${published.location} (sha256 ${sha}).`,
        recordFile !== undefined ? `Ceremony record signed and written: ${recordFile}.` : 'No ceremony record written: give --keys with a root key of the new root to sign it.',
      ].join('\n') + '\n',
    );
  }
  return 0;
}

async function writeRecord(
  file: string,
  state: Collected,
  req: SigningRequest,
  description: string,
  version: number,
  sha: string,
  location: string,
  served: Uint8Array,
  signers: { keyid: string; signer: Signer }[],
): Promise<void> {
  const last = state.events[state.events.length - 1];
  const record = await signRecord(
    {
      request: req.id,
      sas: `${req.sas.words.join(' ')} (${req.sas.hex})`,
      summary: req.summary,
      target: { kind: 'repo', description },
      published: { version, sha256: sha, location },
      publishedRoot: Buffer.from(served).toString('base64'),
      events: state.events,
      head: last !== undefined ? eventHash(last) : '',
    },
    signers,
  );
  await writeFileAtomic(file, JSON.stringify(record, null, 1) + '\n', { mode: 0o644, overwrite: true });
}
