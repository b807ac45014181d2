/**
 * The practice factory's fault injection: what `--fault` accepts (`parsePracticeFaults`), the faults
 * in words for the start-up line (`describeFaults`). The routes apply them (factory-server.ts).
 */
import { AppError } from '../errors.js';

export interface PracticeFaults {
  applyStatus?: number;
  putStatus?: number;
  /** The apply / PUT fault fires once, then clears (default: every time). */
  applyOnce?: boolean;
  putOnce?: boolean;
  delayMs?: number;
  /** Every apply waits this long in APPLYING before it publishes (`--fault apply=delay:MS`: a slow apply, e.g. to reload the page meanwhile). */
  applyDelayMs?: number;
}

/** What `--fault` accepts: `apply=STATUS[:once|:always]`, `put=STATUS[:once|:always]` (default once). */
export const FAULT_SYNTAX = 'apply=STATUS[:once|:always], put=STATUS[:once|:always] (default :once) or apply=delay:MS';

/**
 * `--fault` values to faults: `apply=503` makes the next apply publish the CI root only and answer
 * 503 (a partial apply); `apply=422` refuses apply; `put=500:always` refuses every upload.
 */
export function parsePracticeFaults(specs: readonly string[]): PracticeFaults {
  const out: PracticeFaults = {};
  for (const spec of specs) {
    const d = /^apply=delay:([0-9]{1,6})$/.exec(spec.trim());
    if (d !== null) {
      out.applyDelayMs = Number(d[1]);
      continue;
    }
    const m = /^(apply|put)=([1-5][0-9]{2})(?::(once|always))?$/.exec(spec.trim());
    if (m === null) {
      throw new AppError('BAD_USAGE', `"${spec}" is not a fault`, `Give --fault ${FAULT_SYNTAX}, e.g. --fault apply=503.`);
    }
    const status = Number(m[2]);
    if (status < 400) throw new AppError('BAD_USAGE', `fault status ${status} is not an error status`, 'Use a 4xx or 5xx status, e.g. apply=503.');
    const once = m[3] !== 'always';
    if (m[1] === 'apply') {
      out.applyStatus = status;
      out.applyOnce = once;
    } else {
      out.putStatus = status;
      out.putOnce = once;
    }
  }
  return out;
}

/** The faults in words, for the start-up line. */
export function describeFaults(f: PracticeFaults): string {
  const parts: string[] = [];
  if (f.applyStatus !== undefined) {
    parts.push(`apply answers ${f.applyStatus}${f.applyStatus >= 500 ? ' after publishing the CI root only (a partial apply)' : ''} ${f.applyOnce === true ? 'once' : 'every time'}`);
  }
  if (f.applyDelayMs !== undefined) parts.push(`every apply waits ${f.applyDelayMs} ms (in APPLYING)`);
  if (f.putStatus !== undefined) parts.push(`uploads answer ${f.putStatus} ${f.putOnce === true ? 'once' : 'every time'}`);
  return parts.join('; ');
}
