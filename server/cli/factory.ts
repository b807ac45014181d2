/**
 * What `review`, `cancel` and `publish --factory` share: the Factory client named by the options,
 * the state and review in words, and the confirmation before anything is applied.
 */
import path from 'node:path';
import type { FactoryReview } from '../backends/foundries.js';
import type { FactoryState } from '../backends/foundries-types.js';
import type { FoundriesClient } from '../backends/foundries-client.js';
import { AppError } from '../errors.js';
import { one, required } from './args.js';
import type { ParsedArgs } from './args.js';
import { formatDiff } from './format.js';
import type { CliIo } from './io.js';

/** Options every Factory command takes. */
export const FACTORY_OPTIONS = ['factory', 'api-url', 'token-file'] as const;

/** The client for --factory NAME [--api-url URL] [--token-file F] (token also from FIOCTL_TOKEN or fioctl's config). */
export async function factoryClient(args: ParsedArgs, io: CliIo): Promise<FoundriesClient> {
  const [{ DEFAULT_API_URL, FoundriesClient }, { loadToken }] = await Promise.all([import('../backends/foundries-client.js'), import('../backends/foundries-token.js')]);
  const factory = required(args, 'factory');
  const tokenFile = one(args, 'token-file');
  const token = loadToken({
    ...(tokenFile !== undefined ? { tokenFile: path.resolve(io.cwd, tokenFile) } : {}),
    env: io.env,
    ...(io.env['HOME'] !== undefined ? { home: io.env['HOME'] } : {}),
  });
  return new FoundriesClient({ apiUrl: one(args, 'api-url') ?? DEFAULT_API_URL, factory, token });
}

function short(h: string): string {
  return h.slice(0, 12);
}

/** The state in a few lines. */
export function formatState(st: FactoryState): string {
  const out: string[] = [];
  out.push(`Factory ${st.factory}: TUF root updates ${st.status}${st.txid !== undefined ? ` (txid ${st.txid})` : ''}.`);
  out.push(`  CI root served:         version ${st.ci.version} (sha256 ${short(st.ci.sha256)})`);
  out.push(`  production root served: version ${st.prod.version} (sha256 ${short(st.prod.sha256)})`);
  if (st.staged) {
    const by = st.staged.createdBy !== undefined ? ` by ${st.staged.createdBy}${st.staged.createdAt !== undefined ? ` at ${st.staged.createdAt}` : ''}` : '';
    out.push(`  staged:                 version ${st.staged.ci.version}${by}; ${st.staged.ci.signatures} signature(s) on the CI root`);
  }
  if (st.partial) out.push('  PARTLY APPLIED: production lags CI. Re-run apply: tuf-rotate publish --factory ' + st.factory);
  return out.join('\n');
}

/** The review: state, both diffs, what blocks apply, what to do next. */
export function formatReview(r: FactoryReview): string {
  const st = r.state;
  const out = [formatState(st)];
  if (st.status === 'NONE') {
    out.push(st.partial ? '' : 'There are no TUF root updates in progress.');
    return out.filter((x) => x !== '').join('\n');
  }
  if (r.ci) out.push('', 'CI root, staged against served:', indent(formatDiff(r.ci)));
  if (r.prod) out.push('', 'Production root, staged against served:', indent(formatDiff(r.prod)));
  if (st.staged && st.staged.warnings.length > 0) out.push('', 'Recommended:', ...st.staged.warnings.map((w) => `  - ${w}`));
  out.push('');
  if (st.status === 'APPLYING') {
    out.push(`These updates are being applied. Re-run apply: tuf-rotate publish --factory ${st.factory}`);
  } else if (r.ready) {
    out.push(`Signed and ready. Apply: tuf-rotate publish --factory ${st.factory}; or cancel: tuf-rotate cancel --factory ${st.factory}`);
  } else {
    out.push('Not ready to apply:', ...r.blocking.map((b) => `  - ${b}`));
    out.push(`Sign it (the holders of the root keys), or cancel: tuf-rotate cancel --factory ${st.factory}`);
  }
  return out.join('\n');
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

/**
 * Asks before a change on the target. `--yes` skips the question; without a terminal (and without
 * --yes) the command refuses at once instead of waiting for input that cannot come.
 */
export async function confirm(io: CliIo, question: string, yes: boolean): Promise<void> {
  if (yes) return;
  if (io.isTTY !== true || io.prompt === undefined) {
    throw new AppError('BAD_USAGE', `${question.replace(/\?$/, '')}: confirmation needed, and there is no terminal to ask on.`, 'Add --yes to confirm from a script.');
  }
  const answer = (await io.prompt(`${question} [y/N] `)).trim().toLowerCase();
  if (answer !== 'y' && answer !== 'yes') {
    throw new AppError('BAD_USAGE', 'Not confirmed; nothing was changed on the target.', 'Answer "y" to go ahead, or add --yes.');
  }
}
