/**
 * What `npm run market` prints: a table per scenario and a summary line (colours only on a TTY), and the
 * same as data for `--json`.
 */
import type { Row, ScenarioResult } from './runner.ts';

const COLOURS = { red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', dim: '\x1b[2m', bold: '\x1b[1m', reset: '\x1b[0m' };
type Colour = keyof typeof COLOURS;

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export interface Summary {
  scenarios: number;
  steps: number;
  passed: number;
  failed: number;
  skipped: number;
  violations: string[];
}

export function summarize(results: readonly ScenarioResult[]): Summary {
  const rows = results.flatMap((r) => r.rows.map((row) => ({ scenario: r.scenario, row })));
  return {
    scenarios: results.length,
    steps: rows.length,
    passed: rows.filter((r) => r.row.verdict === 'ok').length,
    failed: rows.filter((r) => r.row.verdict === 'FAIL').length,
    skipped: rows.filter((r) => r.row.verdict === 'skip').length,
    violations: rows.filter((r) => r.row.verdict === 'FAIL').map((r) => `${r.scenario}: ${r.row.note}`),
  };
}

const HEAD = ['#', 'step', 'call', 'code', 'ms', 'expected', 'seen', 'verdict'] as const;

function cells(row: Row): string[] {
  return [
    String(row.step || '·'),
    clip(row.name, 44),
    clip(row.call, 40),
    clip(row.code, 24),
    String(row.ms),
    clip(row.expected, 46),
    clip(row.verdict === 'skip' ? (row.note ?? '') : row.seen, 56),
    row.verdict,
  ];
}

/** One scenario as a plain-text table (verdicts coloured when `colour`). */
export function formatScenario(result: ScenarioResult, colour = false): string {
  const paint = (c: Colour, s: string) => (colour ? `${COLOURS[c]}${s}${COLOURS.reset}` : s);
  const table = [HEAD.map(String), ...result.rows.map(cells)];
  const widths = HEAD.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const verdictColour = (v: string): Colour => (v === 'ok' ? 'green' : v === 'FAIL' ? 'red' : 'yellow');
  const out = [
    paint('bold', `${result.scenario}`) + paint('dim', ` — ${result.title}`),
    paint('dim', line(table[0]!)),
    ...result.rows.map((row) => {
      const c = cells(row);
      const text = line(c);
      // colour the verdict (the last cell) only, keeping the alignment
      return colour ? text.slice(0, text.length - row.verdict.length) + paint(verdictColour(row.verdict), row.verdict) : text;
    }),
  ];
  const failures = result.rows.filter((r) => r.verdict === 'FAIL');
  for (const f of failures) out.push(paint('red', `  ✗ ${f.note}`));
  return out.join('\n');
}

export function formatSummary(summary: Summary, colour = false): string {
  const paint = (c: Colour, s: string) => (colour ? `${COLOURS[c]}${s}${COLOURS.reset}` : s);
  const verdict = summary.failed ? paint('red', `FAIL: ${summary.failed} violation(s)`) : paint('green', 'PASS');
  return `${verdict} — ${summary.scenarios} scenario(s), ${summary.steps} steps: ${summary.passed} ok, ${summary.failed} failed, ${summary.skipped} skipped`;
}

/** The report as data (`--json`): the same rows and the summary. */
export function reportData(results: readonly ScenarioResult[], meta: Record<string, unknown>) {
  return { ...meta, summary: summarize(results), scenarios: results };
}
