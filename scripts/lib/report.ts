import { redact, redactString } from '../../service/shared/redact';

/** One row of a command's report: a check or a step, what was found, and what to do when it failed. */
export interface ReportRow {
  name: string;
  ok: boolean;
  /** What was found (or done), in a few words; never a secret (redacted anyway). */
  found: string;
  /** The fix to apply when the row failed. */
  fix?: string;
  /** Steps report how long they took. */
  durationMs?: number;
}

export interface ReportOptions {
  title: string;
  json: boolean;
  out: (s: string) => void;
  env: NodeJS.ProcessEnv;
  /** More of the command's result for `--json` (a marker id, counts), beside the rows. */
  extra?: Record<string, unknown>;
}

/**
 * Prints a command's rows: a table for people, one JSON document with `--json`, and in GitHub
 * Actions also a job summary table and an `::error` annotation per failed row (through
 * @actions/core, loaded only there). Everything printed is redacted first.
 */
export async function printReport(rows: ReportRow[], options: ReportOptions): Promise<void> {
  const safe = rows.map((r) => redact(r) as ReportRow);
  const ok = safe.every((r) => r.ok);
  if (options.json) options.out(`${JSON.stringify({ title: options.title, ok, ...(redact(options.extra ?? {}) as Record<string, unknown>), rows: safe }, null, 2)}\n`);
  else options.out(table(options.title, safe, ok));
  if (options.env.GITHUB_ACTIONS === 'true') await toGitHub(options.title, safe, options.env);
}

function table(title: string, rows: ReportRow[], ok: boolean): string {
  const cells = rows.map((r) => [r.ok ? 'ok' : 'FAILED', r.name, r.found + (r.durationMs !== undefined ? ` (${formatDuration(r.durationMs)})` : ''), r.ok ? '' : (r.fix ?? '')]);
  const widths = [6, Math.max(...cells.map((c) => c[1]!.length), 5)];
  const lines = cells.map(([status, name, found, fix]) => {
    const head = `${status!.padEnd(widths[0]!)}  ${name!.padEnd(widths[1]!)}  ${found}`;
    return fix ? `${head}\n${' '.repeat(widths[0]! + widths[1]! + 4)}fix: ${fix}` : head;
  });
  const failed = rows.filter((r) => !r.ok).length;
  return `${title}\n\n${lines.join('\n')}\n\n${ok ? `all ${rows.length} ok` : `${failed} of ${rows.length} failed`}\n`;
}

export const formatDuration = (ms: number): string => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

async function toGitHub(title: string, rows: ReportRow[], env: NodeJS.ProcessEnv): Promise<void> {
  const core = await import('@actions/core');
  for (const r of rows.filter((row) => !row.ok)) core.error(redactString(`${r.found}${r.fix ? `. Fix: ${r.fix}` : ''}`), { title: `${title}: ${r.name}` });
  if (!env.GITHUB_STEP_SUMMARY) return;
  await core.summary
    .addHeading(title, 3)
    .addTable([
      [
        { data: 'result', header: true },
        { data: 'check', header: true },
        { data: 'found', header: true },
        { data: 'fix', header: true },
      ],
      ...rows.map((r) => [r.ok ? '✅ ok' : '❌ failed', r.name, r.found + (r.durationMs !== undefined ? ` (${formatDuration(r.durationMs)})` : ''), r.ok ? '' : (r.fix ?? '')]),
    ])
    .write();
}
