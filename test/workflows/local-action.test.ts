import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './workflow-rules';

/**
 * One step entry run the way a JavaScript action runs, by @github/local-action (v7): it reads the
 * action's metadata (test/workflows/local-action/action.yml), loads the inputs from a dotenv file,
 * stubs @actions/core and calls the entrypoint's run(), which runs pipelines/wait-deployment's
 * entry unchanged. ECS is a local fake speaking the AWS JSON 1.1 protocol, reached through the
 * SDK's own AWS_ENDPOINT_URL_ECS setting: nothing leaves the machine.
 */

const ARN = 'arn:aws:ecs:eu-central-1:111122223333';
const DEPLOYMENT = `${ARN}:service-deployment/upiik-payments-production/upiik-payments-production/d-1`;
const REVISION = `${ARN}:service-revision/upiik-payments-production/upiik-payments-production/42`;
const TASK_DEFINITION = `${ARN}:task-definition/upiik-payments-production:42`;
const ALARM = 'upiik-payments-production-payment-failure-rate';

/** What ECS says about a deployment its payment-failure-rate alarm rolled back. */
function ecsAnswer(target: string, now: number): unknown {
  const seconds = now / 1000;
  switch (target) {
    case 'ListServiceDeployments':
      return { serviceDeployments: [{ serviceDeploymentArn: DEPLOYMENT, status: 'ROLLBACK_SUCCESSFUL', createdAt: seconds - 60, startedAt: seconds - 60, targetServiceRevisionArn: REVISION }] };
    case 'DescribeServiceDeployments':
      return {
        serviceDeployments: [{
          serviceDeploymentArn: DEPLOYMENT, status: 'ROLLBACK_SUCCESSFUL', statusReason: 'rolled back after alarm', createdAt: seconds - 60, finishedAt: seconds,
          targetServiceRevision: { arn: REVISION, requestedTaskCount: 2, runningTaskCount: 0, pendingTaskCount: 0 },
          alarms: { status: 'TRIGGERED', alarmNames: [ALARM], triggeredAlarmNames: [ALARM] },
        }],
        failures: [],
      };
    case 'DescribeServiceRevisions':
      return { serviceRevisions: [{ serviceRevisionArn: REVISION, taskDefinition: TASK_DEFINITION }], failures: [] };
    default:
      return undefined;
  }
}

const body = (req: IncomingMessage) => new Promise<string>((resolve) => {
  let text = '';
  req.on('data', (chunk) => (text += chunk));
  req.on('end', () => resolve(text));
});

describe('@github/local-action', () => {
  let server: Server;
  let calls: string[];
  let dir: string;

  beforeAll(async () => {
    calls = [];
    server = createServer(async (req, res) => {
      await body(req);
      const target = String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
      calls.push(target);
      const answer = ecsAnswer(target, Date.now());
      res.writeHead(answer ? 200 : 400, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(answer ?? { __type: 'InvalidParameterException', message: `fake ECS does not answer ${target}` }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    dir = mkdtempSync(join(tmpdir(), 'local-action-'));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  test('runs the wait-deployment entry offline: a rollback by the payment alarm sets the outputs and fails the step', async () => {
    const dotenv = join(dir, '.env');
    writeFileSync(dotenv, ['INPUT_REGION=eu-central-1', 'INPUT_CLUSTER=upiik-payments-production', 'INPUT_SERVICE=upiik-payments-production', 'INPUT_TIMEOUT_SECONDS=30', 'INPUT_POLL_SECONDS=1', ''].join('\n'));
    const { port } = server.address() as AddressInfo;
    const child = spawn(process.execPath, [join(ROOT, 'node_modules/@github/local-action/bin/local-action.js'), 'run', 'test/workflows/local-action', 'wait-deployment.ts', dotenv], {
      cwd: ROOT,
      env: {
        ...process.env,
        AWS_ENDPOINT_URL_ECS: `http://127.0.0.1:${port}`,
        AWS_ACCESS_KEY_ID: 'AKIDLOCALACTION',
        AWS_SECRET_ACCESS_KEY: 'local-action-test',
        AWS_EC2_METADATA_DISABLED: 'true',
        FORCE_COLOR: '0',
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

    // The step failed (exit 1 through local-action), with the on-call message naming the alarm.
    expect(code).not.toBe(0);
    expect(output).toMatch(/::error::wait-deployment \(upiik-payments-production\/upiik-payments-production\):.*rolled back/i);
    expect(output).toContain(ALARM);
    // Outputs were set through local-action's stubbed @actions/core (its ::set-output echo and its
    // closing table), before the step failed.
    expect(output).toContain('::set-output name=status::rolled_back');
    const outputs = output.slice(output.indexOf('Action Outputs'));
    expect(outputs).toMatch(/'status'\s*│\s*'rolled_back'/);
    expect(outputs).toMatch(/'task_definition'\s*│\s*'[^']*upiik-payments-production:42'/);
    expect(calls).toEqual(expect.arrayContaining(['ListServiceDeployments', 'DescribeServiceDeployments', 'DescribeServiceRevisions']));
  });
});
