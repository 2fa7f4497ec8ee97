import { type ProgramRun, runProgram, type StackName, UNKNOWN, UNSET } from './harness';

/**
 * A first `pulumi preview` of a new stack: nothing the providers compute is known yet (ids, ARNs,
 * DNS names, generated passwords, Stripe ids) and the pipeline has not built an image. The program
 * must not throw, and every output is either unknown or exactly what `up` produces, never a
 * half-resolved value such as `https://undefined`.
 */
const SENTINEL = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';

describe.each<StackName>(['staging', 'production'])('a first preview of the %s stack', (stack) => {
  let preview: ProgramRun;
  let up: ProgramRun;
  beforeAll(async () => {
    preview = await runProgram(stack, { image: UNSET }, { preview: true });
    up = await runProgram(stack);
  });

  test('runs the whole program with provider-computed values unknown', () => {
    expect(preview.preview).toBe(true);
    expect(preview.resources.length).toBe(up.resources.length);
    const td = preview.resources.find((r) => r.type === 'aws:ecs/taskDefinition:TaskDefinition');
    expect(td?.unknownInputs).toContain('containerDefinitions');
    expect(td?.unknownInputs).toContain('executionRoleArn');
  });

  test('declares every output `up` declares, each unknown or equal to the value `up` produces', () => {
    expect(Object.keys(preview.outputs).sort()).toEqual(Object.keys(up.outputs).sort());
    const unknown: string[] = [];
    for (const [key, value] of Object.entries(preview.outputs)) {
      if (value === UNKNOWN) unknown.push(key);
      else expect([key, value]).toEqual([key, up.outputs[key]]);
    }
    // What only AWS and Stripe know at apply time is unknown, not guessed.
    for (const key of ['albDnsName', 'clusterArn', 'taskDefinitionArn', 'alertTopicArn', 'priceIds']) expect(unknown).toContain(key);
  });

  test('no known output or input carries an unresolved value', () => {
    const text = JSON.stringify(preview.outputs);
    expect(text).not.toMatch(/undefined|\[object Object\]|Calling \[toString\]/);
    for (const r of preview.resources) {
      const known = JSON.stringify(r.props, (_k, v: unknown) => (typeof v === 'symbol' ? undefined : v));
      expect([r.name, /https?:\/\/undefined|\bundefined\b(?=[/:])|Calling \[toString\] on an \[Output<T>\]/.test(known ?? '')]).toEqual([r.name, false]);
      expect(known ?? '').not.toContain(SENTINEL);
    }
  });

  test('warns that the image is a placeholder and deploys the placeholder digest only in preview', () => {
    expect(preview.warnings.join('\n')).toMatch(/"image" is not set: previewing with the placeholder preview\.invalid\/upiik-payments@sha256:0{64}/);
    expect(up.warnings.join('\n')).not.toMatch(/"image" is not set/);
  });
});
