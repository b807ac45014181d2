/**
 * Names of the verifiers behind each rule of the verifier's checklist, and the one-line matrix that
 * ends a report ("libaktualizr: accepts · Foundries API: refuses (RSA-PSS salt 478, needs 32) · …").
 * Shared by the CLI and the page so both say it the same way.
 */

/** Who holds a rule (server/tuf/model.ts RuleSource), as shown to a person. */
export const SOURCE_LABEL: Record<string, string> = {
  device: 'libaktualizr',
  'foundries-api': 'Foundries API',
  'spec-clients': 'tuf-js, python-tuf',
  'strict-clients': 'tough',
  fioctl: 'fioctl',
  'tuf-rotate': 'tuf-rotate',
};

export function sourcesText(sources: readonly string[]): string {
  return sources.map((s) => SOURCE_LABEL[s] ?? s).join(', ');
}

export interface MatrixEntry {
  verifier: string;
  label: string;
  verdict: 'accepts' | 'refuses' | 'not-applicable';
  reasons: readonly string[];
}

/** One verifier's cell: "refuses (RSA-PSS salt 478, needs 32)", "accepts", "not applicable (…)". */
export function verdictText(e: MatrixEntry, dialect: 'foundries' | 'spec'): string {
  if (e.verdict === 'refuses') return `refuses (${e.reasons.join('; ')})`;
  if (e.verdict === 'accepts') return 'accepts';
  return `not applicable (${dialect === 'foundries' ? 'a Foundries root' : 'a TUF specification root'})`;
}

export function matrixLine(matrix: readonly MatrixEntry[], dialect: 'foundries' | 'spec'): string {
  return matrix.map((e) => `${e.label}: ${verdictText(e, dialect)}`).join(' · ');
}
