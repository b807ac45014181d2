/**
 * The headless face of the core: dispatch, help and exit codes. Each command lives in its own file
 * under commands/ and is loaded only when it runs, so `--help` and a short command load little.
 * Exit status: 0 done; 1 a check failed or a refusal; 2 bad usage or bad input; 3 waiting for
 * signatures; -1 keep running (serve).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { usage } from './args.js';
import type { CliIo, CommandRun } from './io.js';
import { reportError } from './io.js';


interface CommandEntry {
  /** One line for the command list. */
  summary: string;
  /** The command's usage lines (what `CMD --help` prints after the summary). */
  usage: string;
  load: () => Promise<{ run: CommandRun }>;
}

const TARGET = '(--repo DIR | --root ROOT.json --out-root NEW.json | --factory NAME [--api-url URL] [--token-file F])';

/** Every command, in the order help lists them. */
export const COMMANDS: Record<string, CommandEntry> = {
  serve: {
    summary: 'serve the page on 127.0.0.1 (default target: the practice factory in ./practice)',
    usage:
      'tuf-rotate serve [--work DIR] [--port N] [--practice DIR | --repo DIR | --factory NAME [--api-url URL] [--token-file F] | --offline]\n' +
      '                 [--practice-fault apply=STATUS[:once|:always] | put=STATUS[:once|:always] | apply=delay:MS]... [--practice-strict-waves]',
    load: () => import('./commands/serve.js'),
  },
  rotate: {
    summary: 'rotate the root key: generate, sign, verify, save the new archive, publish',
    usage:
      'tuf-rotate rotate --keys IN.tgz|KEY.pem|DIR|pkcs11:URI --out OUT.tgz\n' +
      `                  ${TARGET} [--first-time]\n` +
      '                  [--key-type ed25519|rsa|ecdsa] [--changelog TEXT] [--expires DAYS] [--dry-run] [--overwrite] [--json]\n' +
      '                  [--allow-expired REASON] [--work DIR] [--abandon CEREMONY-ID]\n' +
      '                  [--new-key pkcs11:token=LABEL;object=KEY-LABEL [--new-key-type ed25519|rsa|ecdsa | --new-key-exists] [--ack-no-backup REASON]]\n' +
      '                  [--pkcs11-module LIB.so] [--pin-file FILE]',
    load: () => import('./commands/rotate.js'),
  },
  change: {
    summary: 'several key changes in one new root version: rotate, add, remove keys, thresholds, expiry, online keys',
    usage:
      `tuf-rotate change ${TARGET}\n` +
      '                  --keys IN.tgz|KEY.pem|DIR|pkcs11:URI [--keys …] [--out OUT.tgz] CHANGE... [--changelog TEXT] [--dry-run] [--overwrite] [--json]\n' +
      '                  [--pkcs11-module LIB.so] [--pin-file FILE] [--allow-expired REASON] [--work DIR] [--abandon CEREMONY-ID]\n' +
      '  CHANGE := --rotate-key ROLE | --add-key ROLE [--owner NAME] [--key-file PUB.pem] | --remove-key KEYID\n' +
      '          | --threshold ROLE=N | --prod-targets-threshold N | --refresh-expiry [DAYS]\n' +
      '          | --rotate-online-keys [ROLE,...] | --new-key-type ed25519|rsa|ecdsa\n' +
      '  Signs and publishes when the keys given meet every threshold; otherwise exit 3 and who must still sign.\n' +
      '  --factory: the roots stay staged, signed with what the keys given can sign (txid, SAS, who still signs);\n' +
      '  other admins add theirs with sign --factory, then publish --factory applies.\n' +
      '  --request REQ.json [--who NAME] [--note TEXT] (--repo, root changes): then write a signing request for them instead.\n' +
      '  The run is a ceremony of the work folder (--work, as rotate): status sees it; publish WORKDIR finishes it after an interruption.',
    load: () => import('./commands/change.js'),
  },
  keys: {
    summary: 'what key files hold (key IDs, types, fioctl names) and which roles of a root each key serves',
    usage: 'tuf-rotate keys ARCHIVE.tgz|KEY.pem... [--root ROOT.json | --repo DIR] [--json]',
    load: () => import('./commands/keys.js'),
  },
  verify: {
    summary: 'verify a chain of roots from a trusted one, as a client would',
    usage:
      'tuf-rotate verify --trusted ROOT.json (--repo DIR | NEW.json...) [--at DATE] [--json]\n' +
      '  --at DATE  check expiry as of DATE (2027-01-31 or 2027-01-31T12:00:00Z) instead of now',
    load: () => import('./commands/verify.js'),
  },
  expiry: {
    summary: 'when each root the target serves expires and what renews it; exit 1 when one is due (cron, CI)',
    usage:
      'tuf-rotate expiry (--repo DIR | --factory NAME [--api-url URL] [--token-file F] | ROOT.json...)\n' +
      '                  [--within DAYS] [--ics FILE] [--json]',
    load: () => import('./commands/expiry.js'),
  },
  diff: {
    summary: 'show what changed between two roots',
    usage:
      'tuf-rotate diff OLD.json NEW.json [--factory NAME [--api-url URL] [--token-file F]] [--json]\n' +
      "  --factory: key owners and changelog authors by name, from that Factory's users (else by polis-id)",
    load: () => import('./commands/diff.js'),
  },
  publish: {
    summary: "finish a work folder's interrupted ceremony, publish a separately signed root or a signing request whose thresholds are met, or apply a Factory's staged, signed TUF root updates",
    usage:
      'tuf-rotate publish WORKDIR [--repo DIR | --factory NAME [--token-file F]] [--ceremony ID] [--yes] [--json]\n' +
      '  WORKDIR: publishes the saved root of the work folder\'s ceremony (keys saved, not published), or re-runs a Factory\'s apply\n' +
      'tuf-rotate publish --root NEW.json --repo DIR [--json]\n' +
      'tuf-rotate publish REQ.json --repo DIR [--keys KEYS] [--record RECORD.json] [--who NAME] [--json]\n' +
      'tuf-rotate publish --factory NAME [--api-url URL] [--token-file F] [--txid TXID] [--yes] [--json]\n' +
      '  REQ.json: exit 3 while a threshold is unmet; --keys with a new root key signs the ceremony record.\n' +
      '  --factory: applies the staged, fully signed updates, or re-runs apply after a partial apply\n' +
      '  (production behind CI) until both chains are published. Asks first on a terminal; --yes for scripts.\n' +
      '  Exit 3 when the staged roots still lack signatures. --txid: needed by anyone but the initiator.',
    load: () => import('./commands/publish.js'),
  },
  review: {
    summary: "show a Factory's open TUF root updates: state, staged roots against served ones, what blocks apply",
    usage: 'tuf-rotate review --factory NAME [--api-url URL] [--token-file F] [--txid TXID] [--json]',
    load: () => import('./commands/review.js'),
  },
  cancel: {
    summary: "cancel a Factory's open TUF root updates (any admin may; not while they are being applied)",
    usage: 'tuf-rotate cancel --factory NAME [--api-url URL] [--token-file F] [--json]',
    load: () => import('./commands/cancel.js'),
  },
  status: {
    summary: 'the ceremony of a work folder, reconciled with its target, and which key archive is valid; or who still signs a request',
    usage: `tuf-rotate status [WORKDIR | --work DIR] [${TARGET}] [--ceremony ID] [--json]\ntuf-rotate status REQ.json [--json]`,
    load: () => import('./commands/status.js'),
  },
  request: {
    summary: 'write a signing request for the next root, signed with the keys given (exit 3 while holders still sign)',
    usage:
      'tuf-rotate request --repo DIR --out REQ.json (--rotate-key root --new-key NEW.pem [--replace KEYID] | --next NEXT.json)\n' +
      '                   [--keys KEYS]... [--owner KEYID|KEY.pem=NAME]... [--valid-days N] [--expires DAYS] [--note TEXT] [--who NAME] [--json]',
    load: () => import('./commands/request.js'),
  },
  sign: {
    summary: "sign a request as a holder (checked, diffed, SAS shown), or import a holder's signatures file or raw openssl signature",
    usage:
      'tuf-rotate sign REQ.json --keys KEYS... [--out SIGS.json] [--trusted ROOT.json | --repo DIR] [--json]\n' +
      'tuf-rotate sign REQ.json --import SIGS.json|RAW.sig... [--keyid KEYID] [--payload NAME] [--who NAME] [--json]\n' +
      'tuf-rotate sign --factory NAME [--api-url URL] [--token-file F] --keys KEYS... [--txid TXID] [--json]\n' +
      '  --factory: add your signatures to the staged TUF root updates (shown as a diff with their SAS),\n' +
      '  merged with the signatures staged at that moment. Exit 0 when every threshold is met, 3 while others still sign.',
    load: () => import('./commands/sign.js'),
  },
  record: {
    summary: "verify a signed ceremony record: its hash chain, and its signatures against the published root",
    usage: 'tuf-rotate record verify RECORD.json [--repo DIR] [--json]',
    load: () => import('./commands/record.js'),
  },
  practice: {
    summary: 'make a practice repository or practice factory folder with its key archive',
    usage: 'tuf-rotate practice DIR [--dialect foundries|spec] [--key-type ed25519|rsa|ecdsa] [--first-time] [--name NAME] [--json]',
    load: () => import('./commands/practice.js'),
  },
  'practice-factory': {
    summary: "serve a practice factory's API alone, on loopback",
    usage:
      'tuf-rotate practice-factory DIR [--port N] [--name NAME] [--users A,B] [--wave NAME]... [--strict-waves] [--fault F]... [--json]\n' +
      '  --users admin-a,admin-b: further admins, each with DIR/users/NAME.token and its own polis-id.\n' +
      '  --wave NAME: an active wave (E16) holding the production targets (blocks online key rotation).\n' +
      '  --strict-waves: an active wave also blocks a targets-key rotation or deletion (fioctl\'s help text).\n' +
      '  --fault apply=STATUS[:once|:always] | put=STATUS[:once|:always] (default :once) rehearses a failure:\n' +
      '  apply=503 publishes the CI root only and answers 503 (a partial apply; finish it with publish --factory),\n' +
      '  apply=422 refuses apply, put=500 refuses the upload, apply=delay:MS holds every apply in APPLYING MS ms.',
    load: () => import('./commands/practice-factory.js'),
  },
};

const EXIT_STATUS = 'Exit status: 0 done; 1 a check failed or a refusal; 2 bad usage or bad input; 3 waiting for signatures.';

export function helpText(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return (
    'tuf-rotate: rotate offline TUF keys, verified before anything is published.\n\n' +
    'Commands:\n' +
    lines.join('\n') +
    '\n\nRun "tuf-rotate help COMMAND" or "tuf-rotate COMMAND --help" for its options; "tuf-rotate --version" for the version.\n' +
    EXIT_STATUS
  );
}

export function commandHelp(name: string): string {
  const c = COMMANDS[name];
  if (!c) throw usage(`Unknown command "${name}".`);
  return `tuf-rotate ${name}: ${c.summary}.\n\n${c.usage}\n\n${EXIT_STATUS}`;
}

/** The version in package.json, found upward from this file (server/cli or dist/server/cli). */
export function version(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tuf-rotate' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here; look one folder up
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  try {
    const [command, ...rest] = argv;
    if (command === undefined) {
      io.stdout(helpText() + '\n');
      return 2;
    }
    if (command === 'help' || command === '--help' || command === '-h') {
      const topic = command === 'help' ? rest[0] : undefined;
      io.stdout((topic !== undefined ? commandHelp(topic) : helpText()) + '\n');
      return 0;
    }
    if (command === '--version' || command === '-V') {
      io.stdout(`tuf-rotate ${version()}\n`);
      return 0;
    }
    const entry = COMMANDS[command];
    if (!entry) throw usage(`Unknown command "${command}".`);
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout(commandHelp(command) + '\n');
      return 0;
    }
    return await (await entry.load()).run(argv, io);
  } catch (e) {
    return reportError(e, io, json);
  }
}
