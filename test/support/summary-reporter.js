/**
 * Prints the plain closing line "N passed, N failed, N skipped" after jest's own summary, so the
 * outcome is readable by any tool that looks for it. Before it, each test skipped for a reason
 * (`[skipped: …]` in its title, e.g. an endpoint that lacks one of S3's refusals) with that
 * reason: jest itself names skipped tests only when it runs a single file. Tests left out by
 * `--testNamePattern` carry no reason and are only counted.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests, numFailedTests, numPendingTests, numTodoTests } = results;
    const skipped = results.testResults.flatMap((file) =>
      file.testResults.filter((t) => t.status === 'pending' && t.title.includes('[skipped: ')).map((t) => t.fullName),
    );
    if (skipped.length > 0) process.stdout.write(`\n${skipped.map((name) => `skipped: ${name}`).join('\n')}\n`);
    process.stdout.write(
      `\n${numPassedTests} passed, ${numFailedTests} failed, ${numPendingTests + numTodoTests} skipped\n`,
    );
  }
}
module.exports = SummaryReporter;
