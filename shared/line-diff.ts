/**
 * The line diff the page and the CLI show (server/tuf/diff.ts and the page's document diffs use
 * the same algorithm). Pure, no imports.
 */

// ---------------------------------------------------------------------------------------------
// Line diff: Myers' O(ND) algorithm with the linear-space "middle snake" bisection (Myers 1986,
// §4b), so a few thousand changed lines cost milliseconds and linear memory.

/** One line of a unified line diff. Line numbers are 1-based. */
export interface DiffLine {
  op: ' ' | '+' | '-';
  text: string;
  /** Line number in the old text (for ' ' and '-'). */
  oldNo?: number;
  /** Line number in the new text (for ' ' and '+'). */
  newNo?: number;
}

type Emit = (op: ' ' | '+' | '-', ai: number, bi: number) => void;

/** Lines of both sides as small integers, so comparisons are cheap. */
function intern(a: readonly string[], b: readonly string[]): [Int32Array, Int32Array] {
  const ids = new Map<string, number>();
  const map = (lines: readonly string[]): Int32Array => {
    const out = new Int32Array(lines.length);
    lines.forEach((line, i) => {
      let id = ids.get(line);
      if (id === undefined) {
        id = ids.size;
        ids.set(line, id);
      }
      out[i] = id;
    });
    return out;
  };
  return [map(a), map(b)];
}

/**
 * Diffs a[aLo, aHi) against b[bLo, bHi), emitting operations in order. Common prefix and suffix
 * are taken first; what remains has an edit distance of at least 2, so bisection always splits it
 * into two strictly smaller problems.
 */
function diffRange(a: Int32Array, aLo: number, aHi: number, b: Int32Array, bLo: number, bHi: number, emit: Emit): void {
  while (aLo < aHi && bLo < bHi && a[aLo] === b[bLo]) {
    emit(' ', aLo++, bLo++);
  }
  let suffix = 0;
  while (aLo < aHi - suffix && bLo < bHi - suffix && a[aHi - suffix - 1] === b[bHi - suffix - 1]) suffix++;
  const aEnd = aHi - suffix;
  const bEnd = bHi - suffix;

  if (aLo === aEnd) {
    for (let j = bLo; j < bEnd; j++) emit('+', aLo, j);
  } else if (bLo === bEnd) {
    for (let i = aLo; i < aEnd; i++) emit('-', i, bLo);
  } else {
    const split = bisect(a, aLo, aEnd, b, bLo, bEnd);
    if (split === undefined) {
      for (let i = aLo; i < aEnd; i++) emit('-', i, bLo);
      for (let j = bLo; j < bEnd; j++) emit('+', aEnd, j);
    } else {
      diffRange(a, aLo, split[0], b, bLo, split[1], emit);
      diffRange(a, split[0], aEnd, b, split[1], bEnd, emit);
    }
  }
  for (let s = 0; s < suffix; s++) emit(' ', aEnd + s, bEnd + s);
}

/**
 * Finds a point (x, y) on an optimal edit path by running the forward and the reverse Myers search
 * at once until they overlap (the "middle snake"). Coordinates are absolute.
 */
function bisect(a: Int32Array, aLo: number, aHi: number, b: Int32Array, bLo: number, bHi: number): [number, number] | undefined {
  const n = aHi - aLo;
  const m = bHi - bLo;
  const maxD = Math.ceil((n + m) / 2);
  const offset = maxD;
  const size = 2 * maxD + 2;
  const vf = new Int32Array(size).fill(-1);
  const vb = new Int32Array(size).fill(-1);
  vf[offset + 1] = 0;
  vb[offset + 1] = 0;
  const delta = n - m;
  // With an odd delta the forward search detects the overlap, with an even one the reverse search.
  const front = delta % 2 !== 0;
  let k1start = 0;
  let k1end = 0;
  let k2start = 0;
  let k2end = 0;
  const at = (v: Int32Array, i: number): number => v[i] ?? -1;

  for (let d = 0; d < maxD; d++) {
    for (let k1 = -d + k1start; k1 <= d - k1end; k1 += 2) {
      const k1o = offset + k1;
      let x1 = k1 === -d || (k1 !== d && at(vf, k1o - 1) < at(vf, k1o + 1)) ? at(vf, k1o + 1) : at(vf, k1o - 1) + 1;
      let y1 = x1 - k1;
      while (x1 < n && y1 < m && a[aLo + x1] === b[bLo + y1]) {
        x1++;
        y1++;
      }
      vf[k1o] = x1;
      if (x1 > n) {
        k1end += 2; // ran off the right edge
      } else if (y1 > m) {
        k1start += 2; // ran off the bottom edge
      } else if (front) {
        const k2o = offset + delta - k1;
        if (k2o >= 0 && k2o < size && at(vb, k2o) !== -1) {
          const x2 = n - at(vb, k2o);
          if (x1 >= x2) return [aLo + x1, bLo + y1];
        }
      }
    }
    for (let k2 = -d + k2start; k2 <= d - k2end; k2 += 2) {
      const k2o = offset + k2;
      let x2 = k2 === -d || (k2 !== d && at(vb, k2o - 1) < at(vb, k2o + 1)) ? at(vb, k2o + 1) : at(vb, k2o - 1) + 1;
      let y2 = x2 - k2;
      while (x2 < n && y2 < m && a[aHi - x2 - 1] === b[bHi - y2 - 1]) {
        x2++;
        y2++;
      }
      vb[k2o] = x2;
      if (x2 > n) {
        k2end += 2;
      } else if (y2 > m) {
        k2start += 2;
      } else if (!front) {
        const k1o = offset + delta - k2;
        if (k1o >= 0 && k1o < size && at(vf, k1o) !== -1) {
          const x1 = at(vf, k1o);
          const y1 = offset + x1 - k1o;
          if (x1 >= n - x2) return [aLo + x1, bLo + y1];
        }
      }
    }
  }
  return undefined;
}

/**
 * Patience anchoring: lines that occur exactly once on each side of a range are matched in their
 * longest common order and kept; the gaps between them are diffed with Myers. A pure minimal edit
 * script may pair the structural lines (`"keyval": {`, `}`) of a removed key with those of an
 * unchanged one and show the unchanged key as removed and added again; a key id is unique, so
 * anchoring on it keeps every unchanged key whole.
 */
function patienceRange(a: Int32Array, aLo: number, aHi: number, b: Int32Array, bLo: number, bHi: number, emit: Emit): void {
  while (aLo < aHi && bLo < bHi && a[aLo] === b[bLo]) emit(' ', aLo++, bLo++);
  let suffix = 0;
  while (aLo < aHi - suffix && bLo < bHi - suffix && a[aHi - suffix - 1] === b[bHi - suffix - 1]) suffix++;
  const aEnd = aHi - suffix;
  const bEnd = bHi - suffix;

  // Lines unique on both sides: value -> [count in a, count in b, index in a, index in b].
  const seen = new Map<number, [number, number, number, number]>();
  for (let i = aLo; i < aEnd; i++) {
    const v = a[i] ?? -1;
    const e = seen.get(v);
    if (e === undefined) seen.set(v, [1, 0, i, -1]);
    else e[0]++;
  }
  for (let j = bLo; j < bEnd; j++) {
    const e = seen.get(b[j] ?? -1);
    if (e !== undefined) {
      e[1]++;
      e[3] = j;
    }
  }
  const unique: [number, number][] = [];
  for (const [ca, cb, i, j] of seen.values()) if (ca === 1 && cb === 1) unique.push([i, j]);
  unique.sort((x, y) => x[0] - y[0]);

  // Longest increasing run of b-indices (patience sorting), as the anchors.
  const tails: number[] = [];
  const prev = new Int32Array(unique.length).fill(-1);
  unique.forEach(([, j], n) => {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((unique[tails[mid] ?? 0]?.[1] ?? 0) < j) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) prev[n] = tails[lo - 1] ?? -1;
    tails[lo] = n;
  });
  const anchors: [number, number][] = [];
  for (let n = tails.length > 0 ? (tails[tails.length - 1] ?? -1) : -1; n !== -1; n = prev[n] ?? -1) {
    const u = unique[n];
    if (u !== undefined) anchors.push(u);
  }
  anchors.reverse();

  if (anchors.length === 0) {
    diffRange(a, aLo, aEnd, b, bLo, bEnd, emit);
  } else {
    let i = aLo;
    let j = bLo;
    for (const [ai, bi] of anchors) {
      patienceRange(a, i, ai, b, j, bi, emit);
      emit(' ', ai, bi);
      i = ai + 1;
      j = bi + 1;
    }
    patienceRange(a, i, aEnd, b, j, bEnd, emit);
  }
  for (let s = 0; s < suffix; s++) emit(' ', aEnd + s, bEnd + s);
}

/** A minimal line diff (Myers) of `oldLines` → `newLines`, in order, with 1-based line numbers. */
export function minimalDiffLines(oldLines: readonly string[], newLines: readonly string[]): DiffLine[] {
  return toLines(oldLines, newLines, diffRange);
}

/**
 * The line diff the page and the CLI show: lines unique on both sides anchor it (patience), the
 * rest is a minimal Myers diff, so an unchanged key stays unchanged next to a replaced one.
 */
export function diffLines(oldLines: readonly string[], newLines: readonly string[]): DiffLine[] {
  return toLines(oldLines, newLines, patienceRange);
}

function toLines(oldLines: readonly string[], newLines: readonly string[], algo: typeof diffRange): DiffLine[] {
  const [a, b] = intern(oldLines, newLines);
  const out: DiffLine[] = [];
  algo(a, 0, a.length, b, 0, b.length, (op, ai, bi) => {
    if (op === ' ') out.push({ op, text: oldLines[ai] ?? '', oldNo: ai + 1, newNo: bi + 1 });
    else if (op === '-') out.push({ op, text: oldLines[ai] ?? '', oldNo: ai + 1 });
    else out.push({ op, text: newLines[bi] ?? '', newNo: bi + 1 });
  });
  return out;
}
