/** Small helpers for the benchmark: timing, statistics, rows and the printed table. */
import { performance } from 'node:perf_hooks';

export interface Row {
  name: string;
  /** Median of `runs` measurements (or the one measurement). */
  ours: number | null;
  /** Median of the baseline's measurements in the same run; null when there is no baseline. */
  baseline: number | null;
  unit: string;
  /** ours / baseline, or ours / goal when there is no baseline; null when neither applies. */
  ratio: number | null;
  /** The goal: a ratio (rows with a baseline) or a value in `unit` (rows without); null: none. */
  goal: number | null;
  /** Whether the goal is a bound on `ratio` or on `ours`. */
  goalKind?: 'ratio' | 'value';
  met: boolean | null;
  runs: number;
  oursMin?: number;
  oursMax?: number;
  baselineMin?: number;
  baselineMax?: number;
  p50?: number;
  note?: string;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1] as number;
}

export async function timeMs(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A row comparing ours with a baseline measured interleaved in the same run; goal bounds ours/baseline. */
export function compareRow(name: string, ours: number[], base: number[], unit: string, goalRatio: number, note?: string): Row {
  const o = median(ours);
  const b = median(base);
  const ratio = o / b;
  return {
    name,
    ours: round(o),
    baseline: round(b),
    unit,
    ratio: round(ratio, 3),
    goal: goalRatio,
    goalKind: 'ratio',
    met: ratio <= goalRatio,
    runs: ours.length,
    oursMin: round(Math.min(...ours)),
    oursMax: round(Math.max(...ours)),
    baselineMin: round(Math.min(...base)),
    baselineMax: round(Math.max(...base)),
    ...(note !== undefined ? { note } : {}),
  };
}

/** A row with no baseline: ratio = ours / goal (≤ 1 meets it). */
export function goalRow(name: string, value: number, unit: string, goal: number, runs: number, extra: Partial<Row> = {}): Row {
  return {
    name,
    ours: round(value),
    baseline: null,
    unit,
    ratio: round(value / goal, 3),
    goal,
    goalKind: 'value',
    met: value <= goal,
    runs,
    ...extra,
  };
}

function cell(v: number | boolean | null | undefined): string {
  if (v === null || v === undefined) return 'n/a';
  if (typeof v === 'boolean') return v ? 'yes' : 'NO';
  return String(v);
}

/** The table as Markdown (readable in a terminal too). */
export function formatTable(rows: readonly Row[]): string {
  const head = ['name', 'ours', 'baseline', 'unit', 'ratio', 'goal', 'met', 'runs', 'min..max (ours / baseline)', 'note'];
  const lines = rows.map((r) => [
    r.name,
    cell(r.ours),
    cell(r.baseline),
    r.unit,
    cell(r.ratio),
    r.goal === null ? 'n/a' : r.goalKind === 'ratio' ? `ratio ≤ ${r.goal}` : `≤ ${r.goal} ${r.unit}`,
    cell(r.met),
    String(r.runs),
    r.oursMin !== undefined ? `${r.oursMin}..${r.oursMax}` + (r.baselineMin !== undefined ? ` / ${r.baselineMin}..${r.baselineMax}` : '') : '',
    r.note ?? '',
  ]);
  const out = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const l of lines) out.push(`| ${l.join(' | ')} |`);
  return out.join('\n');
}
