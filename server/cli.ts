/**
 * The headless face of the core: `tuf-rotate practice|rotate|verify|diff|publish`. Pure of process
 * state: argv and an io object in, an exit status out (0 ok, 1 a check failed, 2 bad usage or input).
 */
import path from 'node:path';
import type { Backend } from './backends/backend.js';
import { LocalRepoBackend, ROOT_FILE_LIMIT } from './backends/local-repo.js';
import { OfflineBackend } from './backends/offline.js';
import { failedRules, prepareRotation, publishRotation, saveArchive, signAndVerify } from './ceremony.js';
import { choice, intOption, one, parseArgs, required, usage } from './cli/args.js';
import type { ParsedArgs } from './cli/args.js';
import { formatChain, formatDiff, formatReport } from './cli/format.js';
import { AppError } from './errors.js';
import type { ErrorCode } from './errors.js';
import { loadKeyRing } from './keyring.js';
import type { KeyRing } from './keyring.js';
import { createSpecPractice } from './practice/spec-repo.js';
import { diffRoots } from './tuf/diff.js';
import { readJournal, recoveryOf, withStep, writeJournal } from './journal.js';
import type { Journal } from './journal.js';
import { parseRoot, toDocument } from './tuf/metadata.js';
import type { KeyAlgorithm, Root } from './tuf/model.js';
import { verifyChain, verifyRootUpdate } from './tuf/verify.js';
import { exists, readFileLimited } from './util/fs-atomic.js';
import { extraCommands } from './cli/extra.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
  now?: () => Date;
  /** Called at each step boundary of a rotation (progress; the fault-injection tests kill here). */
  onStep?: (step: string) => void;
}

/** Codes that mean "a check failed" (exit 1); every other error is bad usage or bad input (exit 2). */
const CHECK_FAILED: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'VERIFY_FAILED',
  'CHAIN_BROKEN',
  'ROTATION_REFUSED',
  'ROTATION_LOCKOUT',
  'ROOT_EXPIRED',
  'PUBLISH_FAILED',
  'TARGET_REFUSED',
  'TARGET_CONFLICT',
  'TARGET_PARTIAL_APPLY',
  'TARGET_UNREACHABLE',
  'TARGET_AUTH_FAILED',
]);

export const HELP = `tuf-rotate: rotate the offline TUF root key, verified before anything is published.

  tuf-rotate serve    [--port N] [--practice DIR | --repo DIR | --factory NAME | --offline]
  tuf-rotate rotate   --keys IN.tgz|KEY.pem|DIR --out OUT.tgz (--repo DIR | --root ROOT.json --out-root NEW.json | --factory NAME)
                      [--key-type ed25519|rsa|ecdsa] [--changelog TEXT] [--expires DAYS] [--dry-run] [--overwrite] [--json]
  tuf-rotate verify   --trusted ROOT.json (--repo DIR | NEW.json...) [--json]
  tuf-rotate diff     OLD.json NEW.json [--json]
  tuf-rotate publish  --root NEW.json (--repo DIR | --factory NAME) [--json]
  tuf-rotate status   [DIR] [--repo DIR] [--json]   # how the last rotation saved in DIR ended
  tuf-rotate practice DIR [--dialect foundries|spec] [--key-type ed25519|rsa|ecdsa] [--first-time] [--json]
  tuf-rotate practice-factory DIR [--port N]

Exit status: 0 success; 1 a check failed; 2 bad usage or bad input.`;

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  try {
    const [command] = argv;
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(HELP + '\n');
        return command === undefined ? 2 : 0;
      case 'rotate':
        return await cmdRotate(argv, io);
      case 'verify':
        return await cmdVerify(argv, io);
      case 'diff':
        return await cmdDiff(argv, io);
      case 'publish':
        return await cmdPublish(argv, io);
      case 'practice':
        return await cmdPractice(argv, io);
      case 'status':
        return await cmdStatus(argv, io);
      default: {
        const extra = extraCommands[command];
        if (extra) return await extra(argv, io);
        throw usage(`Unknown command "${command}".`);
      }
    }
  } catch (e) {
    return reportError(e, io, json);
  }
}

export function reportError(e: unknown, io: CliIo, json: boolean): number {
  if (e instanceof AppError) {
    if (json) io.stdout(JSON.stringify({ ok: false, error: { code: e.code, message: e.message, hint: e.hint } }) + '\n');
    io.stderr(`tuf-rotate: ${sentence(e.message)} ${sentence(e.hint)}\n`);
    return CHECK_FAILED.has(e.code) ? 1 : 2;
  }
  // Unexpected: say so without echoing internals that could hold data.
  const name = e instanceof Error ? e.name : 'error';
  io.stderr(`tuf-rotate: an unexpected ${name} stopped the command; nothing was published. Run it again, and report this if it repeats.\n`);
  if (json) io.stdout(JSON.stringify({ ok: false, error: { code: 'INTERNAL', message: 'unexpected error', hint: 'Report this.' } }) + '\n');
  return 2;
}

/** Ends a message with a full stop, so message and hint read as two sentences on one line. */
function sentence(text: string): string {
  const t = text.trim().replace(/\s*\n\s*/g, ' ');
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

function resolve(io: CliIo, p: string): string {
  return path.resolve(io.cwd, p);
}

export async function readRootFile(io: CliIo, file: string): Promise<Root> {
  const abs = resolve(io, file);
  return parseRoot(await readFileLimited(abs, ROOT_FILE_LIMIT, 'root metadata'), file);
}

function now(io: CliIo): Date {
  return io.now ? io.now() : new Date();
}

async function cmdRotate(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, {
    options: ['keys', 'out', 'repo', 'root', 'out-root', 'factory', 'api-url', 'token-file', 'key-type', 'changelog', 'expires'],
    flags: ['dry-run', 'json', 'overwrite', 'first-time'],
  });
  noPositionals(args);
  const dryRun = args.flags.has('dry-run');
  const keyType = choice<KeyAlgorithm>(args, 'key-type', ['ed25519', 'rsa', 'ecdsa'], 'ed25519');
  const expiresDays = intOption(args, 'expires', 1, 3650);
  const changelog = one(args, 'changelog');
  const keysIn = (args.options.get('keys') ?? []).map((k) => resolve(io, k));
  const firstTime = args.flags.has('first-time');
  if (firstTime && one(args, 'factory') === undefined) throw usage('--first-time applies to --factory only.');
  if (keysIn.length === 0 && !firstTime) throw usage('--keys is required: the key archive (.tgz) or PEM private key files.');
  if (keysIn.length > 0 && firstTime) throw usage('--first-time takes no --keys: the first root key comes from the Factory.');
  const out = one(args, 'out');
  if ((!dryRun || firstTime) && out === undefined) throw usage('--out is required: where to write the new key archive.');
  const outPath = resolve(io, out ?? '');
  if (firstTime && (await exists(outPath))) {
    throw new AppError('FILE_EXISTS', `${outPath} already exists.`, "Choose a new path: a first-time rotation never writes over a file that may hold another Factory's keys.");
  }
  const backend = await backendFor(args, io, 'rotate');
  const ring: KeyRing = firstTime ? { source: 'the Factory (first-time)', archive: undefined, keys: [] } : await loadKeyRing(keysIn);
  const t = now(io);
  const progress = (step: string): void => io.onStep?.(step);
  const prep = await prepareRotation(backend, ring, {
    keyType,
    now: t,
    ...(changelog !== undefined ? { changelog } : {}),
    ...(expiresDays !== undefined ? { expiresDays } : {}),
    ...(firstTime ? { firstTimeOut: outPath } : {}),
  }, progress);
  const signed = await signAndVerify(prep, progress);
  const diff = diffRoots(prep.current, signed.root, { now: t, heldKeyIds: [...prep.signers.keys()] });
  if (!signed.report.ok) {
    await backend.abort();
    if (args.flags.has('json')) io.stdout(JSON.stringify({ ok: false, verify: signed.report }) + '\n');
    else io.stdout(formatReport(signed.report) + '\n');
    throw new AppError('VERIFY_FAILED', `The new root does not pass the client rules: ${failedRules(signed.report)}.`, 'Nothing was written or published; fix the cause above and run again.');
  }
  const summary = {
    dialect: prep.plan.dialect,
    oldVersion: prep.current.version,
    version: signed.root.version,
    rootKeyIds: signed.root.roles['root']?.keyids ?? [],
    newKeyId: prep.plan.newKeyId,
    removedKeyIds: prep.plan.removedKeyIds,
    expires: signed.root.expires,
  };
  if (dryRun) {
    await backend.abort();
    if (args.flags.has('json')) io.stdout(JSON.stringify({ ok: true, dryRun: true, ...summary, verify: signed.report, diff: { ...diff, lines: undefined } }) + '\n');
    else io.stdout(`${formatDiff(diff)}\n${formatReport(signed.report)}\nDry run: nothing was written or published.\n`);
    return 0;
  }
  let saved;
  let journal: Journal;
  try {
    saved = await saveArchive(prep, ring, outPath, { overwrite: args.flags.has('overwrite') || firstTime }, progress);
    progress('saved');
    // Invariant 7: the journal (beside the archive, and in its folder) says the keys are saved.
    journal = withStep(
      {
        format: 1,
        step: 'planned',
        steps: [{ step: 'planned', at: t.toISOString() }],
        target: { kind: backend.kind, description: backend.description },
        oldVersion: prep.current.version,
        newVersion: signed.root.version,
        newKeyId: prep.plan.newKeyId,
        oldRoot: toDocument(prep.current.signedJson, prep.current.signatures.map((x) => x.json)),
        signedRoot: signed.document,
        ...(signed.prod ? { prodRoot: signed.prod } : {}),
      },
      'saved',
      new Date(),
      { archive: { path: saved.path, sha256: saved.sha256 } },
    );
    await writeJournal(path.dirname(saved.path), journal);
  } catch (e) {
    await backend.abort();
    throw e;
  }
  if (!args.flags.has('json')) io.stdout(`New key archive saved: ${saved.path} (sha256 ${saved.sha256}).\n`);
  const published = await publishRotation(backend, prep.current, signed, t, progress);
  progress('published');
  await writeJournal(
    path.dirname(saved.path),
    withStep(journal, 'published', new Date(), { published: { location: published.location, version: published.readBack.version } }),
  ).catch(() => undefined); // the target says it too (see `tuf-rotate status`)
  if (args.flags.has('json')) {
    io.stdout(
      JSON.stringify({
        ok: true,
        ...summary,
        root: { path: published.location, version: published.readBack.version, rootKeyIds: summary.rootKeyIds },
        archive: { path: saved.path, sha256: saved.sha256 },
        verify: signed.report,
      }) + '\n',
    );
  } else {
    io.stdout(`${formatDiff(diff)}\n${formatReport(signed.report)}\n`);
    io.stdout(`Root version ${published.readBack.version} published to ${published.location}.\n`);
  }
  return 0;
}

function noPositionals(args: ParsedArgs): void {
  if (args.positionals.length > 0) throw usage(`Unexpected argument "${args.positionals[0] ?? ''}".`);
}

/** The target named by the options: --repo, --root + --out-root, or (in the server issue) --factory. */
export async function backendFor(args: ParsedArgs, io: CliIo, command: string): Promise<Backend> {
  const repo = one(args, 'repo');
  const root = one(args, 'root');
  const factory = one(args, 'factory');
  const chosen = [repo, command === 'rotate' ? root : undefined, factory].filter((x) => x !== undefined);
  if (chosen.length !== 1) throw usage('Name exactly one target: --repo DIR, --root ROOT.json with --out-root NEW.json, or --factory NAME.');
  if (repo !== undefined) return new LocalRepoBackend(resolve(io, repo));
  if (factory !== undefined) {
    const { factoryBackend } = await import('./cli/extra.js');
    return factoryBackend(args, io);
  }
  const outRoot = required(args, 'out-root');
  return new OfflineBackend({ file: resolve(io, root ?? '') }, resolve(io, outRoot));
}

async function cmdVerify(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['trusted', 'repo'], flags: ['json'] });
  const trusted = await readRootFile(io, required(args, 'trusted'));
  const repo = one(args, 'repo');
  let chain: Root[];
  if (repo !== undefined) {
    if (args.positionals.length > 0) throw usage('Give either --repo or root files, not both.');
    chain = (await new LocalRepoBackend(resolve(io, repo)).history()).filter((r) => r.version > trusted.version);
  } else {
    if (args.positionals.length === 0) throw usage('Give the roots to verify (NEW.json...) or --repo DIR.');
    chain = [];
    for (const f of args.positionals) chain.push(await readRootFile(io, f));
  }
  const report = verifyChain(trusted, chain, { now: now(io) });
  if (args.flags.has('json')) {
    io.stdout(JSON.stringify({ ok: report.ok, finalVersion: report.finalVersion, failedAt: report.failedAt ?? null, steps: report.steps, warnings: report.warnings }) + '\n');
  } else {
    io.stdout(formatChain(report) + '\n');
  }
  if (!report.ok) {
    io.stderr(`tuf-rotate: the chain is broken at version ${report.failedAt ?? '?'}; a client would stop at version ${report.finalVersion}. See the failing rules above.\n`);
    return 1;
  }
  return 0;
}

async function cmdDiff(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: [], flags: ['json'] });
  if (args.positionals.length !== 2) throw usage('diff takes two root files: OLD.json NEW.json.');
  const [a, b] = args.positionals as [string, string];
  const d = diffRoots(await readRootFile(io, a), await readRootFile(io, b), { now: now(io) });
  io.stdout((args.flags.has('json') ? JSON.stringify(d) : formatDiff(d) + '\n' + d.lines.filter((l) => l.op !== ' ').map((l) => `${l.op} ${l.text}`).join('\n')) + '\n');
  return 0;
}

async function cmdPublish(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['root', 'repo', 'factory', 'api-url', 'token-file'], flags: ['json'] });
  noPositionals(args);
  const next = await readRootFile(io, required(args, 'root'));
  if (one(args, 'factory') !== undefined) {
    throw new AppError('TARGET_NOT_CONFIGURED', 'Publishing a separately signed root to a Factory is not supported yet: a Factory rotation also needs the signed production root.', 'Run tuf-rotate rotate --factory NAME on the machine that holds the keys.');
  }
  const backend = await backendFor(args, io, 'publish');
  const current = await backend.currentRoot();
  const t = now(io);
  const report = verifyRootUpdate(current, next, { now: t });
  if (!report.ok) {
    if (!args.flags.has('json')) io.stdout(formatReport(report) + '\n');
    throw new AppError('VERIFY_FAILED', `${required(args, 'root')} does not pass the client rules against the target's version ${current.version}: ${failedRules(report)}.`, 'Nothing was published. Sign the root against the target\'s current version.');
  }
  const { toDocument } = await import('./tuf/metadata.js');
  const doc = toDocument(next.signedJson, next.signatures.map((s) => s.json));
  const result = await publishRotation(backend, current, { document: doc, prod: undefined }, t);
  if (args.flags.has('json')) io.stdout(JSON.stringify({ ok: true, location: result.location, version: result.readBack.version }) + '\n');
  else io.stdout(`Root version ${result.readBack.version} published to ${result.location}.\n`);
  return 0;
}

async function cmdPractice(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['dialect', 'key-type', 'name'], flags: ['json', 'first-time'] });
  if (args.positionals.length !== 1) throw usage('practice takes one folder: tuf-rotate practice DIR.');
  const dir = resolve(io, args.positionals[0] ?? '');
  const dialect = choice(args, 'dialect', ['foundries', 'spec'] as const, 'spec');
  const keyType = choice<KeyAlgorithm>(args, 'key-type', ['ed25519', 'rsa', 'ecdsa'], dialect === 'spec' ? 'ed25519' : 'rsa');
  if (dialect === 'foundries') {
    const { practiceFactory } = await import('./cli/extra.js');
    return practiceFactory(args, io, dir, keyType);
  }
  const made = await createSpecPractice(dir, { keyType, now: now(io) });
  if (args.flags.has('json')) {
    io.stdout(JSON.stringify({ ok: true, dialect, target: made.repo, archive: made.archive, onlineKeys: made.onlineKeys, rootKeyId: made.rootKeyId }) + '\n');
  } else {
    io.stdout(`Practice repository: ${made.repo}\nKey archive: ${made.archive}\nTry: tuf-rotate rotate --keys ${made.archive} --out ${path.join(dir, 'offline-keys.new.tgz')} --repo ${made.repo}\n`);
  }
  return 0;
}

/**
 * `tuf-rotate status [DIR] [--repo DIR]`: what the journal in DIR (the folder of the output
 * archive; default the current folder) says about the last rotation; with --repo, cross-checked
 * with what the repository serves (a run killed after publishing but before journaling it).
 */
async function cmdStatus(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { options: ['repo'], flags: ['json'] });
  if (args.positionals.length > 1) throw usage('status takes at most one folder.');
  const dir = resolve(io, args.positionals[0] ?? '.');
  const journal = await readJournal(dir);
  let status = recoveryOf(journal);
  const repo = one(args, 'repo');
  if (repo !== undefined && journal?.step === 'saved' && journal.signedRoot) {
    const current = await new LocalRepoBackend(resolve(io, repo)).currentRoot();
    const same = JSON.stringify(current.signedJson) === JSON.stringify(journal.signedRoot.signed);
    if (current.version === journal.newVersion && same) {
      status = recoveryOf(withStep(journal, 'published', new Date(), { published: { location: resolve(io, repo), version: current.version } }));
    }
  }
  if (args.flags.has('json')) io.stdout(JSON.stringify({ ok: true, ...status }) + '\n');
  else io.stdout(`${status.state}: ${status.message}\n`);
  return 0;
}
