import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeTasksCommand, ECSClient, RunTaskCommand } from '@aws-sdk/client-ecs';
import { type OpsTaskRequest, taskCommand } from '../../service/ops/task';
import { runScript, type ScriptIo } from './cli';
import { type OpsEnvDeps, type OpsStackOutputs, resolveOpsTarget } from './ops-env';

/** The service's container in its task definition (infra/components/service.ts) and its log stream prefix. */
export const SERVICE_CONTAINER = 'payments';

export interface InClusterClients {
  ecs: ECSClient;
  logs: CloudWatchLogsClient;
  /** Test seam: how long to wait between polls (default 3 s). */
  pollMs?: number;
  /** Test seam: the outer bound (default 30 min). */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface InClusterResult {
  taskArn: string;
  exitCode: number | null;
  stoppedReason?: string;
  logLines: number;
}

export function inClusterClients(region: string): InClusterClients {
  return { ecs: new ECSClient({ region }), logs: new CloudWatchLogsClient({ region }) };
}

/**
 * Runs an ops task (service/ops/task.ts) as a one-off Fargate task of the service's own task
 * definition, in its private subnets and security group (the only place that reaches the database),
 * streams the task's log lines back as they arrive and resolves with the container's exit code.
 * The task's exit code decides: a task ECS could not start, or that stopped without one, fails.
 */
export async function runInCluster(outputs: OpsStackOutputs, request: OpsTaskRequest, clients: InClusterClients, onLine: (line: string) => void): Promise<InClusterResult> {
  const sleep = clients.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const started = await clients.ecs.send(
    new RunTaskCommand({
      cluster: outputs.clusterName,
      taskDefinition: outputs.taskDefinitionFamily,
      launchType: 'FARGATE',
      count: 1,
      startedBy: `ops-${request.task}`.slice(0, 36),
      networkConfiguration: { awsvpcConfiguration: { subnets: outputs.privateSubnetIds, securityGroups: [outputs.taskSecurityGroupId], assignPublicIp: 'DISABLED' } },
      overrides: { containerOverrides: [{ name: SERVICE_CONTAINER, command: taskCommand(request) }] },
    }),
  );
  const task = started.tasks?.[0];
  if (!task?.taskArn) {
    const why = started.failures?.map((f) => `${f.reason ?? 'unknown'}${f.detail ? ` (${f.detail})` : ''}`).join('; ') || 'no task and no failure given';
    throw new Error(`ECS did not start the task: ${why}`);
  }
  const taskArn = task.taskArn;
  const taskId = taskArn.split('/').pop()!;
  // awslogs: <stream prefix>/<container name>/<task id>, the prefix being the container's name.
  const logStreamName = `${SERVICE_CONTAINER}/${SERVICE_CONTAINER}/${taskId}`;
  let nextToken: string | undefined;
  let logLines = 0;
  const drainLogs = async () => {
    for (;;) {
      let page;
      try {
        page = await clients.logs.send(new GetLogEventsCommand({ logGroupName: outputs.logGroupName, logStreamName, startFromHead: true, ...(nextToken ? { nextToken } : {}) }));
      } catch (error) {
        // The stream appears once the container has written its first line.
        if ((error as { name?: string }).name === 'ResourceNotFoundException') return;
        throw error;
      }
      for (const event of page.events ?? []) {
        if (event.message !== undefined) {
          onLine(event.message);
          logLines++;
        }
      }
      const same = page.nextForwardToken === nextToken;
      nextToken = page.nextForwardToken;
      if (same || (page.events ?? []).length === 0) return;
    }
  };
  const deadline = Date.now() + (clients.timeoutMs ?? 30 * 60_000);
  for (;;) {
    await drainLogs();
    const described = await clients.ecs.send(new DescribeTasksCommand({ cluster: outputs.clusterName, tasks: [taskArn] }));
    const current = described.tasks?.[0];
    if (current?.lastStatus === 'STOPPED') {
      await drainLogs();
      const container = current.containers?.find((c) => c.name === SERVICE_CONTAINER);
      return { taskArn, exitCode: container?.exitCode ?? null, ...(current.stoppedReason ? { stoppedReason: current.stoppedReason } : {}), logLines };
    }
    if (Date.now() > deadline) throw new Error(`task ${taskId} still ${current?.lastStatus ?? 'unknown'} after the time allowed: it keeps running; follow it in CloudWatch (${outputs.logGroupName}, ${logStreamName})`);
    await sleep(clients.pollMs ?? 3000);
  }
}

export interface InClusterConnection {
  outputs: OpsStackOutputs;
  clients: InClusterClients;
  close(): Promise<void>;
}

export type InClusterIo = ScriptIo<InClusterConnection> & { opsEnv?: Omit<OpsEnvDeps, 'env'> };

/**
 * A command's `--in-cluster` form: parse, refuse, then run the task in the stack's cluster and
 * stream its lines to stdout; the exit code is the task's (0 stays 0, anything else is 1).
 */
export function runCommandInCluster<A>(spec: {
  name: string;
  usage: string;
  argv: string[];
  env: NodeJS.ProcessEnv;
  io: InClusterIo;
  parse(argv: string[]): A & { stack: 'staging' | 'production' };
  refuse?(args: A): string | undefined;
  task(args: A): OpsTaskRequest;
}): Promise<number> {
  return runScript<A & { stack: 'staging' | 'production' }, InClusterConnection>({
    name: spec.name,
    usage: spec.usage,
    argv: spec.argv,
    env: spec.env,
    io: spec.io,
    parse: spec.parse,
    ...(spec.refuse ? { refuse: spec.refuse } : {}),
    connect: async () => {
      const target = await resolveOpsTarget(spec.parse(spec.argv).stack, { env: spec.env, ...spec.io.opsEnv });
      return { outputs: target.aws!, clients: inClusterClients(target.aws!.region), close: async () => undefined };
    },
    run: async (args, connection, out) => {
      out(`${spec.name}: starting a task in ${connection.outputs.clusterName} (${connection.outputs.taskDefinitionFamily})\n`);
      const result = await runInCluster(connection.outputs, spec.task(args), connection.clients, (line) => out(`  ${line}\n`));
      out(`${spec.name}: task ${result.taskArn.split('/').pop()} exited ${result.exitCode ?? `without an exit code (${result.stoppedReason ?? 'unknown'})`}\n`);
      return result.exitCode === 0 ? 0 : 1;
    },
  });
}
