import type { Exchange } from './http';
import type { SmokeReport, StepResult } from './smoke';

/** How a smoke test run reads on a terminal: the table of steps, and the exchange that failed. */

const STATUS: Record<StepResult['status'], string> = { ok: 'ok', skipped: 'skipped', failed: 'FAILED' };

/** One row per step run: step, status, time in ms, and what it saw or why it was skipped. */
export function formatTable(report: SmokeReport): string {
  const rows = [
    ['STEP', 'STATUS', 'MS', 'DETAIL'],
    ...report.steps.map((s) => [s.step, STATUS[s.status], String(s.ms), s.detail ?? '']),
  ];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) =>
    [r[0]!.padEnd(widths[0]!), r[1]!.padEnd(widths[1]!), r[2]!.padStart(widths[2]!), r[3]!].join('  ').trimEnd(),
  );
  const total = report.steps.reduce((sum, s) => sum + s.ms, 0);
  const verdict = report.ok
    ? `all steps passed in ${total} ms (${report.steps.filter((s) => s.status === 'skipped').length} skipped)`
    : `failed at "${report.failure?.step}" after ${total} ms`;
  return [`${report.url}, repository ${report.repository}`, '', ...lines, '', verdict].join('\n');
}

/** The failure: its message, the request and response of the exchange it judged, and what is left. */
export function formatFailure(report: SmokeReport): string {
  const failure = report.failure;
  if (!failure) return '';
  const lines = [`FAILED at "${failure.step}": ${failure.message}`];
  if (failure.exchange) lines.push('', ...formatExchange(failure.exchange));
  if (report.leftovers.length > 0) {
    lines.push('', `could not clean up in ${report.repository}:`, ...report.leftovers.map((l) => `  ${l}`));
  }
  return lines.join('\n');
}

/** An exchange as `curl -v` shows one: `>` for the request, `<` for the response (recorded without credentials). */
export function formatExchange(exchange: Exchange): string[] {
  const headerLines = (prefix: string, headers: Record<string, string>) =>
    Object.entries(headers).map(([name, value]) => `${prefix} ${name}: ${value}`);
  const lines = [`> ${exchange.method} ${exchange.url}`, ...headerLines('>', exchange.requestHeaders)];
  if (exchange.requestBodySize !== undefined) lines.push(`> (${exchange.requestBodySize} bytes of body)`);
  if (exchange.streamedBody) lines.push('> (streamed body)');
  if (exchange.error !== undefined) return [...lines, `< no response: ${exchange.error}`];
  lines.push(`< ${exchange.status}`, ...headerLines('<', exchange.responseHeaders ?? {}));
  const body = exchange.responseBody ?? '';
  if (body.length > 0) {
    // Control characters (a binary body) would garble the terminal: they are shown as dots.
    lines.push('<', body.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/g, '.'));
  }
  return lines;
}
