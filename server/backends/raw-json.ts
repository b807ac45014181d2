/**
 * Raw JSON members: the exact source text of a member, as fioctl keeps `first_root.sec` as
 * json.RawMessage.
 */


/**
 * The exact source text of a top-level member of a JSON object, or undefined if absent. Expects
 * text that JSON.parse accepts (callers parse first). The last occurrence wins, as in JSON.parse.
 */
export function rawMember(text: string, name: string): string | undefined {
  let i = skipWs(text, 0);
  if (text[i] !== '{') return undefined;
  i = skipWs(text, i + 1);
  let found: string | undefined;
  while (i < text.length && text[i] !== '}') {
    const keyEnd = skipValue(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as unknown;
    i = skipWs(text, keyEnd);
    if (text[i] !== ':') return undefined;
    const start = skipWs(text, i + 1);
    const end = skipValue(text, start);
    if (key === name) found = text.slice(start, end);
    i = skipWs(text, end);
    if (text[i] === ',') i = skipWs(text, i + 1);
  }
  return found;
}

function skipWs(t: string, i: number): number {
  while (i < t.length && (t[i] === ' ' || t[i] === '\n' || t[i] === '\r' || t[i] === '\t')) i++;
  return i;
}

/** Index just past the JSON value starting at `i`. */
function skipValue(t: string, i: number): number {
  const c = t[i];
  if (c === '"') {
    i++;
    while (i < t.length && t[i] !== '"') i += t[i] === '\\' ? 2 : 1;
    return i + 1;
  }
  if (c === '{' || c === '[') {
    let depth = 0;
    while (i < t.length) {
      const ch = t[i];
      if (ch === '"') {
        i = skipValue(t, i);
        continue;
      }
      if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return i;
  }
  while (i < t.length && !',}] \n\r\t'.includes(t[i] ?? '')) i++;
  return i;
}
