/**
 * Prints the run's closing line in the plain form CI reads: "Tests: N passed, N failed, N skipped".
 * (jest's own summary says "N passed, N total", which CI does not recognise.)
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    process.stdout.write(`\nTests: ${results.numPassedTests} passed, ${failed} failed, ${results.numPendingTests + results.numTodoTests} skipped\n`);
  }
}
module.exports = SummaryReporter;
