/** Structured JSON log lines, one object per line, as CloudWatch Logs Insights reads them. */
export function log(message: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(`${JSON.stringify({ level: 'error', message, time: new Date().toISOString(), ...fields })}\n`);
}
