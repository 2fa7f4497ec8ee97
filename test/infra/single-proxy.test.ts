import { ofType, TYPES } from '../../infra/policies/types';
import { type ProgramRun, runProgram, type StackName } from './harness';

/**
 * The service trusts exactly one proxy hop (`trust proxy` = 1 in service/app.ts): the client
 * address is the X-Forwarded-For entry the ALB appends. That is only true if the ALB is the one
 * way in, which these tests pin for both stacks.
 */
describe.each<StackName>(['staging', 'production'])('the %s stack puts exactly one proxy in front of the service', (stack) => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(stack);
  });

  const group = (role: string) => ofType(run.resources, TYPES.securityGroup).find((sg) => sg.name === `upiik-payments-${stack}-${role}-sg`);

  test('the tasks admit their port from the ALB security group only, from no address range', () => {
    const ingress = (group('service')?.props.ingress as { securityGroups?: string[]; cidrBlocks?: string[]; ipv6CidrBlocks?: string[] }[]) ?? [];
    expect(ingress).toHaveLength(1);
    const [alb] = run.resources.filter((r) => r.type === 'aws:lb/loadBalancer:LoadBalancer');
    expect(ingress[0]?.securityGroups).toEqual(alb?.props.securityGroups);
    expect(ingress[0]?.securityGroups).toHaveLength(1);
    expect(ingress[0]?.cidrBlocks ?? []).toEqual([]);
    expect(ingress[0]?.ipv6CidrBlocks ?? []).toEqual([]);
    // Nor does any separate ingress rule open the tasks' group.
    const [service] = ofType(run.resources, TYPES.ecsService);
    const taskGroups = (service?.props.networkConfiguration as { securityGroups?: string[] }).securityGroups ?? [];
    expect(taskGroups).toHaveLength(1);
    expect(ofType(run.resources, TYPES.ingressRule).filter((r) => taskGroups.includes(r.props.securityGroupId as string))).toEqual([]);
  });

  test('tasks get no public IP, and there is one load balancer', () => {
    const services = ofType(run.resources, TYPES.ecsService);
    expect(services.length).toBeGreaterThan(0);
    for (const service of services) {
      expect((service.props.networkConfiguration as { assignPublicIp?: boolean }).assignPublicIp).toBe(false);
    }
    expect(run.resources.filter((r) => r.type === 'aws:lb/loadBalancer:LoadBalancer')).toHaveLength(1);
  });
});
