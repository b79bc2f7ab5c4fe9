/**
 * What of the functions' output reaches the terminal of `npm start`: their log lines prefixed by the
 * function's name, without the EMF metric lines (CloudWatch turns those into metrics, nobody reads
 * them) and without the SDK's warning about this machine's Node version (Lambda runs Node 24).
 */
export function functionLogFilter(print: (line: string) => void): (source: string, line: string) => void {
  const skipping = new Set<string>();
  return (source, line) => {
    if (line.startsWith('{"_aws":')) return;
    if (line.includes('NodeVersionSupportWarning')) skipping.add(source);
    if (skipping.has(source)) {
      if (line.includes('--trace-warnings')) skipping.delete(source);
      return;
    }
    print(`[${source}] ${line}`);
  };
}
