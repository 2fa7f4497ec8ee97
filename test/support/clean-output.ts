/**
 * Test output stays readable: service code under test never writes its JSON lines (EMF metric
 * lines, logs) to the real stdout. Suites inject writers they assert on instead (test/support/
 * capture.ts, `emfStream`, `captureLogger`). Anything that slips through fails the suite that wrote
 * it, naming the first line, rather than scrolling past in the run.
 */
// The AWS SDK warns once per process that its 2027 releases need Node 22. The runtime decision is
// the Dockerfile's and the README's (noted there), not something each test worker should repeat.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const JSON_LINE = /^\s*\{".*\}\s*$/m;
const leaked: string[] = [];
const originalWrite = process.stdout.write;

process.stdout.write = function write(this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
  const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : '';
  if (JSON_LINE.test(text)) leaked.push(text.trim().slice(0, 160));
  return (originalWrite as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
} as typeof process.stdout.write;

afterAll(() => {
  process.stdout.write = originalWrite;
  if (leaked.length > 0) {
    const first = leaked[0];
    leaked.length = 0;
    throw new Error(`service output reached the test run's stdout (inject a capturing writer instead): ${first}`);
  }
});
