/** Plain-text tables for `npm run ops`: a header, aligned columns (numbers to the right), long cells clipped. */

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const numeric = (s: string) => /^[\d.,+]+$/.test(s);

export function formatTable(title: string, head: readonly string[], rows: readonly (readonly string[])[], maxCell = 48): string {
  if (rows.length === 0) return `${title}\n  (none)`;
  const cells = rows.map((r) => head.map((_, i) => clip(r[i] ?? '', maxCell)));
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const right = head.map((_, i) => cells.every((r) => r[i] === '' || numeric(r[i]!)));
  const line = (r: readonly string[]) =>
    `  ${r.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ')}`.trimEnd();
  return [title, line(head), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}
