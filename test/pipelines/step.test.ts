import { inputReader, InputError, runStepEntry, type StepEntry } from '../../pipelines/lib/step';
import { fakeActionsCore as fakeCore } from '../support/actions-core';


describe('inputReader', () => {
  const read = (inputs: Record<string, string>) => inputReader(fakeCore(inputs).core);

  test('strings: required unless there is a fallback; optional gives undefined for empty', () => {
    expect(read({ cluster: ' upiik ' }).string('cluster')).toBe('upiik');
    expect(() => read({}).string('cluster')).toThrow(new InputError('input cluster is required'));
    expect(read({}).string('region', 'eu-central-1')).toBe('eu-central-1');
    expect(read({}).optional('started_after')).toBeUndefined();
  });

  test('numbers within bounds, the fallback when empty, a clear refusal otherwise', () => {
    expect(read({ timeout_seconds: '90' }).number('timeout_seconds', 60, { min: 1 })).toBe(90);
    expect(read({}).number('timeout_seconds', 60, { min: 1 })).toBe(60);
    expect(() => read({ timeout_seconds: 'soon' }).number('timeout_seconds', 60, { min: 1 })).toThrow('input timeout_seconds must be a number >= 1 (got "soon")');
    expect(() => read({ timeout_seconds: '0' }).number('timeout_seconds', 60, { min: 1, max: 10 })).toThrow('input timeout_seconds must be a number >= 1 <= 10 (got "0")');
    expect(() => read({ rate: '2' }).number('rate', 0.1, { max: 1 })).toThrow('input rate must be a number <= 1 (got "2")');
  });

  test('choices, booleans and lists', () => {
    expect(read({ mode: 'readonly' }).choice('mode', ['full', 'readonly'] as const)).toBe('readonly');
    expect(read({}).choice('mode', ['full', 'readonly'] as const, 'full')).toBe('full');
    expect(() => read({ mode: 'all' }).choice('mode', ['full', 'readonly'] as const)).toThrow('input mode must be one of full, readonly (got "all")');
    expect(read({ stop_on_fail: 'False' }).boolean('stop_on_fail', true)).toBe(false);
    expect(read({ stop_on_fail: 'yes' }).boolean('stop_on_fail', false)).toBe(true);
    expect(read({}).boolean('stop_on_fail', true)).toBe(true);
    expect(() => read({ stop_on_fail: 'maybe' }).boolean('stop_on_fail', true)).toThrow('input stop_on_fail must be true or false (got "maybe")');
    expect(read({ alarms: 'a, b\nc' }).list('alarms')).toEqual(['a', 'b', 'c']);
  });
});

describe('runStepEntry', () => {
  const entry = (result: Awaited<ReturnType<StepEntry<{ name: string }>['run']>> | Error): StepEntry<{ name: string }> => ({
    title: (inputs) => `demo (${inputs.name})`,
    inputs: (read) => ({ name: read.string('name') }),
    run: async () => {
      if (result instanceof Error) throw result;
      return result;
    },
  });
  const passed = { ok: true, summary: 'all good', rows: [{ name: 'check', ok: true, found: 'fine', durationMs: 1200 }], outputs: { status: 'successful', count: 2 } };

  test('a passing step sets its outputs, prints its rows and exits 0', async () => {
    const { core, calls } = fakeCore({ name: 'staging' });
    let printed = '';
    expect(await runStepEntry(entry(passed), { core, env: {}, out: (s) => (printed += s) })).toBe(0);
    expect(calls.outputs).toEqual({ status: 'successful', count: 2 });
    expect(calls.failed).toEqual([]);
    expect(calls.info).toEqual(['demo (staging): all good']);
    expect(printed).toContain('demo (staging)');
    expect(printed).toContain('fine (1.2 s)');
  });

  test('a gate that says no: outputs still set (later jobs read them), the step fails with its sentence, exit 1', async () => {
    const { core, calls } = fakeCore({ name: 'production' });
    const failed = { ...passed, ok: false, summary: 'rolled back by alarm upiik-payment-failure-rate: read runbooks/payment-failure-rate.md' };
    expect(await runStepEntry(entry(failed), { core, env: {}, out: () => undefined })).toBe(1);
    expect(calls.outputs.status).toBe('successful');
    expect(calls.failed).toEqual(['demo (production): rolled back by alarm upiik-payment-failure-rate: read runbooks/payment-failure-rate.md']);
  });

  test('wrong inputs exit 2 before anything runs; a thrown error exits 1, redacted', async () => {
    const missing = fakeCore({});
    expect(await runStepEntry(entry(passed), { core: missing.core, env: {}, out: () => undefined })).toBe(2);
    expect(missing.calls.failed).toEqual(['wrong inputs: input name is required']);
    const broken = fakeCore({ name: 'staging' });
    const leaked = new Error('connect failed for postgres://payments:hunter2@db.internal:5432/payments');
    expect(await runStepEntry(entry(leaked), { core: broken.core, env: {}, out: () => undefined })).toBe(1);
    expect(broken.calls.failed).toHaveLength(1);
    expect(broken.calls.failed[0]).toMatch(/^demo \(staging\): connect failed for /);
    expect(broken.calls.failed[0]).not.toContain('hunter2');
    const late = fakeCore({ name: 'production' });
    expect(await runStepEntry(entry(new InputError('mode full needs a test-mode key')), { core: late.core, env: {}, out: () => undefined })).toBe(2);
    expect(late.calls.failed).toEqual(['wrong inputs: demo (production): mode full needs a test-mode key']);
  });

  test('secrets are masked through the runner in GitHub Actions only: elsewhere the mask command would print them', async () => {
    const masking: StepEntry<{ name: string }> = { ...entry(passed), run: async (_inputs, core) => (core.setSecret('sk_test_derived_value'), passed) };
    const local = fakeCore({ name: 'local' });
    await runStepEntry(masking, { core: local.core, env: {}, out: () => undefined });
    expect(local.calls.secrets).toEqual([]);
    const actions = fakeCore({ name: 'staging' });
    await runStepEntry(masking, { core: actions.core, env: { GITHUB_ACTIONS: 'true' }, out: () => undefined });
    expect(actions.calls.secrets).toEqual(['sk_test_derived_value']);
  });

  test('STEP_REPORT=json prints one JSON document with the summary and outputs', async () => {
    const { core } = fakeCore({ name: 'staging' });
    let printed = '';
    await runStepEntry(entry(passed), { core, env: { STEP_REPORT: 'json' }, out: (s) => (printed += s) });
    expect(JSON.parse(printed)).toMatchObject({ title: 'demo (staging)', ok: true, summary: 'all good', outputs: { status: 'successful', count: 2 }, rows: [{ name: 'check', ok: true }] });
  });
});
