/**
 * `tuf-rotate sign REQ.json --keys KEYS [--out SIGS.json] [--trusted ROOT.json | --repo DIR]`: a
 * holder's side. Re-derives every byte and hash of the request and refuses one that does not add
 * up, shows its own diff against the trusted root and the SAS, signs only the documents the keys
 * are required for, verifies each signature at once, writes a tuf-rotate/signatures file.
 *
 * `tuf-rotate sign REQ.json --import FILE [--keyid ID] [--payload NAME]`: the coordinator's side.
 * Adds a signatures file, or a raw signature made with openssl pkeyutl / pkcs11-tool, each verified
 * against the expected key over the exact bytes, to REQ.sigs.json beside the request.
 */
import path from 'node:path';
import { LocalRepoBackend } from '../../backends/local-repo.js';
import { AppError } from '../../errors.js';
import { collect, formatMissing, formatTally, logEvent, openRequest, signWithHeld, whoOf } from '../../requests/cli.js';
import { companionPath, loadHeldKeys, readOrStartCollected, readSmall, writeCollected } from '../../requests/files.js';
import { sasBlock, sasLine } from '../../requests/sas.js';
import {
  SIGNATURES_FORMAT,
  acceptSignature,
  assertSameRequest,
  decodeSig,
  encodeSig,
  tally,
  tryParseSignaturesFile,
  type Collected,
  type SignaturesFile,
} from '../../requests/signatures.js';
import { diffRoots, shortKeyId } from '../../tuf/diff.js';
import type { Root } from '../../tuf/model.js';
import { exists, writeFileAtomic } from '../../util/fs-atomic.js';
import { parseArgs, usage } from '../args.js';
import { formatDiff } from '../format.js';
import type { CliIo } from '../io.js';
import { now, readRootFile, resolvePath } from '../io.js';

export async function run(argv: string[], io: CliIo): Promise<number> {
  // A Factory's staged TUF root updates (server/cli/sign-factory.ts); the rest is the request-file path.
  if (argv.some((a) => a === '--factory' || a.startsWith('--factory='))) return (await import('../sign-factory.js')).signFactoryCommand(argv, io);
  const args = parseArgs(argv, { options: ['keys', 'out', 'import', 'keyid', 'payload', 'trusted', 'repo', 'who'], flags: ['json'] });
  if (args.positionals.length !== 1) throw usage('sign takes one request file: tuf-rotate sign REQ.json --keys KEYS | --import FILE.');
  const imports = args.options.get('import') ?? [];
  const keys = args.options.get('keys') ?? [];
  if ((imports.length > 0) === (keys.length > 0)) throw usage('Give either --keys (sign with your keys) or --import FILE (add a signature someone made).');
  if (imports.length > 0) return importSignatures(args.positionals[0] ?? '', imports, args.options, io, args.flags.has('json'));
  return signAsHolder(args.positionals[0] ?? '', keys, args.options, io, args.flags.has('json'));
}

async function pinnedRoots(io: CliIo, options: Map<string, string[]>): Promise<Root[] | undefined> {
  const trusted = options.get('trusted')?.[0];
  const repo = options.get('repo')?.[0];
  if (trusted !== undefined && repo !== undefined) throw usage('Give --trusted ROOT.json or --repo DIR, not both.');
  if (trusted !== undefined) return [await readRootFile(io, trusted)];
  if (repo !== undefined) return new LocalRepoBackend(resolvePath(io, repo)).history();
  return undefined;
}

async function signAsHolder(file: string, keys: string[], options: Map<string, string[]>, io: CliIo, json: boolean): Promise<number> {
  const pinned = await pinnedRoots(io, options);
  const { reqFile, checked, collected } = await openRequest(io, file, pinned !== undefined ? { pinned } : {});
  const req = checked.request;
  const t = now(io);
  const held = await loadHeldKeys(keys.map((k) => resolvePath(io, k)));
  const made = await signWithHeld(checked, held);
  const outOpt = options.get('out')?.[0];
  const out = outOpt !== undefined ? resolvePath(io, outOpt) : collected === undefined ? path.join(path.dirname(reqFile), `signatures-${req.id.slice(0, 8)}-${shortKeyId(made[0]?.keyid ?? '')}.json`) : undefined;
  const sigFile: SignaturesFile = {
    format: SIGNATURES_FORMAT,
    formatVersion: 1,
    request: req.id,
    sas: req.sas.hex,
    signatures: made.map(({ payload, keyid, method, sig }) => ({ payload, keyid, ...(method !== undefined ? { method } : {}), sig })),
  };
  if (out !== undefined) {
    if (await exists(out)) throw new AppError('FILE_EXISTS', `${out} already exists.`, 'Choose another --out path.');
    await writeFileAtomic(out, JSON.stringify(sigFile, null, 1) + '\n', { mode: 0o644 });
  }
  let added = 0;
  if (collected !== undefined) {
    // The coordinator's own copy: add what is new to REQ.sigs.json too.
    let state: Collected = collected;
    const who = whoOf(options.get('who')?.[0], io);
    for (const s of made) {
      if (state.signatures.some((h) => h.payload === s.payload && h.keyid === s.keyid)) continue;
      state = collect(state, s, `tuf-rotate sign (${s.label})`, who, t);
      added++;
    }
    await writeCollected(reqFile, state);
  }
  if (json) {
    io.stdout(JSON.stringify({ ok: true, request: req.id, sas: req.sas, signatures: sigFile.signatures.map((s) => ({ payload: s.payload, keyid: s.keyid })), ...(out !== undefined ? { file: out } : {}), collected: added }) + '\n');
    return 0;
  }
  const lines = [sasBlock(req.sas), `Request ${req.id}: every byte and hash re-derived and checked; open until ${req.expiresAt}.`];
  lines.push("The coordinator's summary (checked against the roots):", ...req.summary.map((l) => `  ${l}`));
  if (req.note !== null) lines.push(`Note from the coordinator: ${req.note}`);
  for (const p of req.payloads) {
    const doc = checked.payloads.get(p.name);
    if (doc === undefined) continue;
    lines.push(`What changes in ${p.name} (computed here from the trusted v${doc.trusted.version}):`, formatDiff(diffRoots(doc.trusted, doc.root, { now: t })));
  }
  for (const s of made) lines.push(`Signed ${s.payload} with key ${shortKeyId(s.keyid)} (${s.label}); the signature verifies.`);
  if (out !== undefined) lines.push(`Signatures written: ${out}. Send it to the coordinator.`);
  if (collected !== undefined) lines.push(`Added ${added} signature(s) to ${companionPath(reqFile)}.`);
  io.stdout(lines.join('\n') + '\n');
  return 0;
}

async function importSignatures(file: string, imports: string[], options: Map<string, string[]>, io: CliIo, json: boolean): Promise<number> {
  const { reqFile, checked } = await openRequest(io, file);
  const req = checked.request;
  const who = whoOf(options.get('who')?.[0], io);
  const keyid = options.get('keyid')?.[0];
  const payload = options.get('payload')?.[0];
  let state = await readOrStartCollected(reqFile, req);
  const t = now(io);
  const results: { from: string; payload: string; keyid: string }[] = [];
  for (const imp of imports) {
    const p = resolvePath(io, imp);
    const bytes = await readSmall(p, 'signature file');
    const from = path.basename(p);
    try {
      const sigFile = tryParseSignaturesFile(bytes);
      if (sigFile !== undefined) {
        if (keyid !== undefined || payload !== undefined) throw usage('--keyid and --payload are for raw signatures; a signatures file names its own.');
        assertSameRequest(sigFile, req, from);
        // All or nothing: every entry verified before any is added.
        const accepted = [];
        for (const s of sigFile.signatures) {
          const raw = decodeSig(req.dialect, s.sig);
          const a = acceptSignature(checked, [...state.signatures, ...accepted.map((x) => ({ payload: x.payload, keyid: x.keyid, sig: '' }))], { payload: s.payload, keyid: s.keyid, raw: raw ?? new Uint8Array() }, `${from} (${s.payload}, key ${shortKeyId(s.keyid)})`);
          accepted.push(a);
        }
        for (const a of accepted) {
          state = collect(state, { payload: a.payload, keyid: a.keyid, sig: encodeSig(req.dialect, a.raw), ...(req.dialect === 'foundries' ? { method: methodOf(checked, a.keyid) } : {}) }, `signatures file ${from}`, who, t, a.saltLength !== undefined ? { saltLength: a.saltLength } : {});
          results.push({ from, payload: a.payload, keyid: a.keyid });
        }
      } else {
        const a = acceptSignature(checked, state.signatures, { ...(payload !== undefined ? { payload } : {}), ...(keyid !== undefined ? { keyid } : {}), raw: undefined, file: bytes }, `the raw signature ${from}`);
        state = collect(state, { payload: a.payload, keyid: a.keyid, sig: encodeSig(req.dialect, a.raw), ...(req.dialect === 'foundries' ? { method: methodOf(checked, a.keyid) } : {}) }, `raw signature ${from}`, who, t, a.saltLength !== undefined ? { saltLength: a.saltLength } : {});
        results.push({ from, payload: a.payload, keyid: a.keyid });
      }
    } catch (e) {
      if (e instanceof AppError && e.code !== 'BAD_USAGE') {
        // Every verification is recorded, refusals included; nothing else changes.
        state = logEvent(state, 'signature-refused', who, t, { from, code: e.code, message: e.message });
        await writeCollected(reqFile, state);
      }
      throw e;
    }
  }
  await writeCollected(reqFile, state);
  const tl = tally(checked, state.signatures);
  if (json) {
    io.stdout(JSON.stringify({ ok: true, request: req.id, sas: req.sas, added: results, complete: tl.complete }) + '\n');
  } else {
    io.stdout(
      [
        sasLine(req.sas),
        ...results.map((r) => `Imported ${r.from}: ${r.payload} signed by ${req.keys[r.keyid]?.owner ?? shortKeyId(r.keyid)} (${shortKeyId(r.keyid)}), verified.`),
        ...formatTally(req, tl),
        ...(tl.complete ? [`Every threshold is met: run tuf-rotate publish ${path.basename(reqFile)} --repo DIR.`] : formatMissing(checked, state.signatures, reqFile)),
      ].join('\n') + '\n',
    );
  }
  return 0;
}

function methodOf(checked: { publicKeys: Map<string, { algorithm: string }> }, keyid: string): string {
  const alg = checked.publicKeys.get(keyid)?.algorithm;
  return alg === 'rsa' ? 'rsassa-pss-sha256' : alg === 'ecdsa' ? 'ecdsa-sha2-nistp256' : 'ed25519';
}
