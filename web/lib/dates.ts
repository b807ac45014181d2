/** The one way the page writes a date and time: `2026-12-01 13:45 UTC` (what TUF's UTC times say, without seconds). */
export function formatDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 16)} UTC`;
}
