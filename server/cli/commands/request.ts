/**
 * `tuf-rotate request`: write a signing request (tuf-rotate/signing-request v1) for the next root of
 * a local repository, sign it with the keys given, and stop: exit 3 while holders still have to sign.
 * The next root is a root-key rotation (--rotate-key root --new-key NEW.pem) or any unsigned next
 * root made elsewhere (--next NEXT.json).
 */
import path from 'node:path';
import { LocalRepoBackend } from '../../backends/local-repo.js';
import { AppError } from '../../errors.js';
import type { HeldKey } from '../../keyring.js';
import { formatMissing, formatTally, WAITING, whoOf, writeSigningRequest } from '../../requests/cli.js';
import { loadHeldKeys, readPemKey, readSmall, servedTrustedBytes } from '../../requests/files.js';
import { sasBlock } from '../../requests/sas.js';
import { shortKeyId } from '../../tuf/diff.js';
import { isJsonObject, type Json, type JsonObject } from '../../tuf/json.js';
import { publicKeyOf, samePublicKey } from '../../tuf/public-key.js';
import { parseRoot } from '../../tuf/metadata.js';
import type { PublicKeyInfo, Root } from '../../tuf/model.js';
import { planRootRotation } from '../../tuf/rotate.js';
import { exists } from '../../util/fs-atomic.js';
import { intOption, one, parseArgs, required, usage } from '../args.js';
import type { CliIo } from '../io.js';
import { noPositionals, now, resolvePath } from '../io.js';

function rootKeyIdOf(root: Root, pub: PublicKeyInfo): string | undefined {
  return root.roles['root']?.keyids.find((id) => {
    const k = root.keys[id];
    if (k === undefined) return false;
    try {
      return samePublicKey(publicKeyOf(k), pub);
    } catch {
      return false;
    }
  });
}

/** `--owner KEY=NAME`: KEY is a key ID (or ≥ 8 hex digits of one) or a PEM file of that key. */
async function ownersOf(io: CliIo, specs: string[], roots: Root[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const spec of specs) {
    const eq = spec.lastIndexOf('=');
    if (eq <= 0 || eq === spec.length - 1) throw usage(`--owner takes KEY=NAME, not "${spec}".`);
    const key = spec.slice(0, eq);
    const name = spec.slice(eq + 1);
    let ids: string[];
    if (/^[0-9a-f]{8,64}$/.test(key)) {
      ids = [...new Set(roots.flatMap((r) => Object.keys(r.keys)))].filter((id) => id.startsWith(key));
    } else {
      const { pub } = await readPemKey(resolvePath(io, key));
      ids = [...new Set(roots.map((r) => rootKeyIdOf(r, pub)).filter((x): x is string => x !== undefined))];
    }
    if (ids.length !== 1) throw usage(`--owner ${key}: ${ids.length === 0 ? 'no root key matches it' : 'it matches several keys; give more of the key ID'}.`);
    out[ids[0] as string] = name;
  }
  return out;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, {
    options: ['repo', 'factory', 'keys', 'rotate-key', 'new-key', 'replace', 'next', 'out', 'owner', 'valid-days', 'note', 'expires', 'who'],
    flags: ['json'],
  });
  noPositionals(args);
  const json = args.flags.has('json');
  if (one(args, 'factory') !== undefined) {
    throw new AppError('TARGET_NOT_CONFIGURED', 'Signing requests for a Factory are made by the ceremony (tuf-rotate change --factory … --request).', 'Use --repo DIR for a standard repository.');
  }
  const repo = required(args, 'repo');
  const out = resolvePath(io, required(args, 'out'));
  if (!/\.json$/i.test(out)) throw usage('--out must name a .json file (REQ.json).');
  if (await exists(out)) throw new AppError('FILE_EXISTS', `${out} already exists.`, 'A request file is never rewritten (its id binds it); choose a new name.');
  const nextFile = one(args, 'next');
  const rotateKey = one(args, 'rotate-key');
  if ((nextFile === undefined) === (rotateKey === undefined)) throw usage('Say what to sign: --rotate-key root --new-key NEW.pem, or --next NEXT.json.');
  if (rotateKey !== undefined && rotateKey !== 'root') throw usage('--rotate-key takes "root" here (other roles: tuf-rotate change).');
  const validDays = intOption(args, 'valid-days', 1, 90);
  const expiresDays = intOption(args, 'expires', 1, 3650);
  const who = whoOf(one(args, 'who'), io);
  const t = now(io);

  const backend = new LocalRepoBackend(resolvePath(io, repo));
  const current = await backend.currentRoot();
  const trustedBytes = await servedTrustedBytes(backend, current);
  const keysIn = (args.options.get('keys') ?? []).map((k) => resolvePath(io, k));
  const held: HeldKey[] = keysIn.length > 0 ? await loadHeldKeys(keysIn) : [];

  let signed: JsonObject;
  let existing: Json[] = [];
  if (nextFile !== undefined) {
    const bytes = await readSmall(resolvePath(io, nextFile), 'next root');
    let v: unknown;
    try {
      v = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch {
      throw new AppError('JSON_INVALID', `${nextFile} is not valid JSON.`, 'Give the next root (a document with "signed", or the signed object itself).');
    }
    const obj = isJsonObject(v) && isJsonObject(v['signed']) ? v['signed'] : v;
    if (isJsonObject(v) && Array.isArray(v['signatures'])) existing = v['signatures'];
    if (!isJsonObject(obj)) throw new AppError('ROOT_INVALID', `${nextFile} is not a root.`, 'Give the next root as JSON.');
    signed = obj;
  } else {
    const newKeyFile = required(args, 'new-key');
    const newKey = await readPemKey(resolvePath(io, newKeyFile));
    if (newKey.priv !== undefined && !held.some((h) => samePublicKey(h.publicKey, newKey.pub))) held.push(newKey.priv);
    const rootIds = current.roles['root']?.keyids ?? [];
    let replace = one(args, 'replace');
    if (replace !== undefined) {
      const r = replace;
      const m = rootIds.filter((id) => id.startsWith(r));
      if (m.length !== 1) throw usage(`--replace ${r} does not name exactly one root key of version ${current.version}.`);
      replace = m[0];
    } else {
      const mine = [...new Set(held.map((h) => rootKeyIdOf(current, h.publicKey)).filter((x): x is string => x !== undefined))];
      if (mine.length !== 1) {
        throw usage(`Say which root key to replace with --replace KEYID (root keys: ${rootIds.map(shortKeyId).join(', ')}).`);
      }
      replace = mine[0];
    }
    const plan = planRootRotation(current, {
      heldKeyIds: rootIds, // planning only: the holders sign later, through the request
      newKey: newKey.pub,
      replaceKeyId: replace,
      now: t,
      ...(expiresDays !== undefined ? { expires: new Date(t.getTime() + expiresDays * 86_400_000) } : {}),
    });
    signed = plan.newSigned;
  }

  const next = parseRoot({ signatures: [], signed }, 'the next root');
  const owners = await ownersOf(io, args.options.get('owner') ?? [], [current, next]);
  const note = one(args, 'note');
  const { request: req, checked, collected: state, bins, dropped, tally: tl } = await writeSigningRequest({
    reqFile: out,
    input: {
      dialect: current.dialect,
      target: { kind: 'repo', description: `repository ${path.basename(backend.dir)}` },
      trusted: [{ name: 'root', bytes: trustedBytes }],
      payloads: [{ name: 'root', trusted: 'root', signed }],
      owners,
      ...(note !== undefined ? { note } : {}),
      now: t,
      ...(validDays !== undefined ? { validDays } : {}),
    },
    held,
    who,
    existing: { root: existing },
    existingFrom: `next root file ${path.basename(nextFile ?? '')}`,
  });
  if (json) {
    io.stdout(JSON.stringify({ ok: true, request: req.id, sas: req.sas, file: out, bins, complete: tl.complete, signed: state.signatures.map((s) => ({ payload: s.payload, keyid: s.keyid })) }) + '\n');
  } else {
    io.stdout(
      [
        sasBlock(req.sas),
        `Signing request written: ${out} (id ${req.id}, open until ${req.expiresAt}).`,
        `Bytes to sign: ${bins.join(', ')}.`,
        ...req.summary.map((l) => `  ${l}`),
        ...formatTally(req, tl),
        ...formatMissing(checked, state.signatures, out),
        ...(dropped > 0 ? [`${dropped} signature(s) in ${nextFile ?? ''} did not verify over these bytes and were dropped.`] : []),
        'Send REQ.json to each holder and read them the short authentication string over another channel.',
      ].join('\n') + '\n',
    );
  }
  return tl.complete ? 0 : WAITING;
}
