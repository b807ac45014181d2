/**
 * The verdict matrix every report ends with: which verifier (libaktualizr, the Foundries API,
 * tuf-js/python-tuf, tough) would accept or refuse, from the sources of the failing rules.
 */
import type { Dialect, RuleResult, RuleSource, VerifierVerdict } from '../model.js';

const VERIFIERS: { verifier: VerifierVerdict['verifier']; label: string; source: RuleSource; dialect: Dialect }[] = [
  { verifier: 'libaktualizr', label: 'libaktualizr', source: 'device', dialect: 'foundries' },
  { verifier: 'foundries-api', label: 'Foundries API', source: 'foundries-api', dialect: 'foundries' },
  { verifier: 'tuf-js/python-tuf', label: 'tuf-js/python-tuf', source: 'spec-clients', dialect: 'spec' },
  { verifier: 'tough', label: 'tough', source: 'strict-clients', dialect: 'spec' },
];

/**
 * Who would accept or refuse, by verifier: a verifier refuses when a result it holds (its source is
 * listed) fails or warns. Verifiers of the other dialect never see the root: not applicable.
 * `prefix` adds the version to each reason (a chain of several steps).
 */
export function verdictMatrix(dialect: Dialect, results: RuleResult[], prefix = false): VerifierVerdict[] {
  return VERIFIERS.map(({ verifier, label, source, dialect: d }) => {
    if (d !== dialect) return { verifier, label, verdict: 'not-applicable' as const, reasons: [] };
    const reasons: string[] = [];
    for (const r of results) {
      if ((r.status !== 'fail' && r.status !== 'warn') || !r.sources.includes(source)) continue;
      const phrase = r.short ?? r.rule;
      const text = prefix && !phrase.startsWith(`version ${r.version} `) ? `v${r.version} ${phrase}` : phrase;
      if (!reasons.includes(text)) reasons.push(text);
    }
    return { verifier, label, verdict: reasons.length > 0 ? ('refuses' as const) : ('accepts' as const), reasons };
  });
}
