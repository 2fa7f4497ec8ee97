import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';

export interface LoadBalancerArgs {
  vpcId: pulumi.Input<string>;
  publicSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  certificateArn: string;
  containerPort: number;
  /** Readiness route: database and Redis answer (the service's HTTP contract). */
  healthCheckPath: string;
  tags: Record<string, string>;
}

/**
 * The HTTPS entry point: an internet-facing ALB (the only thing open to the world, on 80 and 443),
 * HTTP redirected to HTTPS, and two target groups (primary/alternate) behind one production
 * listener rule, so ECS can shift traffic between revisions for a canary. Also owns the tasks'
 * security group, reachable only from the ALB, because that pairing is what keeps tasks private.
 */
export class LoadBalancer extends pulumi.ComponentResource {
  public readonly albArn: pulumi.Output<string>;
  public readonly albArnSuffix: pulumi.Output<string>;
  public readonly dnsName: pulumi.Output<string>;
  public readonly primaryTargetGroupArn: pulumi.Output<string>;
  public readonly primaryTargetGroupArnSuffix: pulumi.Output<string>;
  public readonly alternateTargetGroupArn: pulumi.Output<string>;
  public readonly productionListenerRuleArn: pulumi.Output<string>;
  public readonly httpsListenerArn: pulumi.Output<string>;
  public readonly serviceSecurityGroupId: pulumi.Output<string>;
  /** Role ECS assumes to move traffic between the target groups during a canary. */
  public readonly trafficShiftRoleArn: pulumi.Output<string>;

  constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super('upiik:service:LoadBalancer', name, {}, opts);
    if (!args.certificateArn.startsWith('arn:')) throw new Error('LoadBalancer: certificateArn must be an ACM certificate ARN');
    const parent = { parent: this };

    const albSg = new aws.ec2.SecurityGroup(`${name}-alb-sg`, {
      vpcId: args.vpcId,
      description: 'Internet-facing ALB: HTTPS, and HTTP only to redirect',
      ingress: [80, 443].map((port) => ({ protocol: 'tcp', fromPort: port, toPort: port, cidrBlocks: ['0.0.0.0/0'], ipv6CidrBlocks: ['::/0'] })),
      egress: [{ protocol: 'tcp', fromPort: args.containerPort, toPort: args.containerPort, cidrBlocks: ['0.0.0.0/0'] }],
      // The no-world-ingress policy allows 80/443 only on groups marked as the internet edge.
      tags: { ...args.tags, Name: `${name}-alb-sg`, Exposure: 'internet' },
    }, parent);
    // The service trusts exactly one proxy hop (Express `trust proxy` = 1): the client address is
    // the X-Forwarded-For entry this ALB appends. The container port must stay reachable from the
    // ALB only; any other way in would let clients pick their own address (and per-IP limits).
    const serviceSg = new aws.ec2.SecurityGroup(`${name}-service-sg`, {
      vpcId: args.vpcId,
      description: 'Payments tasks: container port from the ALB only',
      ingress: [{ protocol: 'tcp', fromPort: args.containerPort, toPort: args.containerPort, securityGroups: [albSg.id] }],
      // Stripe, ECR, Secrets Manager, CloudWatch and the database are reached outbound.
      egress: [{ protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'] }],
      tags: { ...args.tags, Name: `${name}-service-sg`, Exposure: 'private' },
    }, parent);

    const alb = new aws.lb.LoadBalancer(`${name}-alb`, {
      loadBalancerType: 'application',
      internal: false,
      subnets: args.publicSubnetIds,
      securityGroups: [albSg.id],
      dropInvalidHeaderFields: true,
      tags: args.tags,
    }, parent);

    const targetGroup = (role: string) =>
      new aws.lb.TargetGroup(`${name}-${role}-tg`, {
        vpcId: args.vpcId,
        port: args.containerPort,
        protocol: 'HTTP',
        targetType: 'ip',
        deregistrationDelay: 30,
        healthCheck: { path: args.healthCheckPath, matcher: '200', interval: 15, timeout: 5, healthyThreshold: 2, unhealthyThreshold: 3 },
        tags: { ...args.tags, Name: `${name}-${role}-tg` },
      }, parent);
    const primary = targetGroup('primary');
    const alternate = targetGroup('alternate');

    new aws.lb.Listener(`${name}-http`, {
      loadBalancerArn: alb.arn,
      port: 80,
      protocol: 'HTTP',
      defaultActions: [{ type: 'redirect', redirect: { protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' } }],
      tags: args.tags,
    }, parent);
    const https = new aws.lb.Listener(`${name}-https`, {
      loadBalancerArn: alb.arn,
      port: 443,
      protocol: 'HTTPS',
      sslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
      certificateArn: args.certificateArn,
      defaultActions: [{ type: 'fixed-response', fixedResponse: { contentType: 'application/json', statusCode: '404', messageBody: '{"error":{"code":"not_found","message":"Not found"}}' } }],
      tags: args.tags,
    }, parent);
    const rule = new aws.lb.ListenerRule(`${name}-production-rule`, {
      listenerArn: https.arn,
      priority: 100,
      conditions: [{ pathPattern: { values: ['/*'] } }],
      actions: [{ type: 'forward', forward: { targetGroups: [{ arn: primary.arn, weight: 100 }, { arn: alternate.arn, weight: 0 }] } }],
      tags: args.tags,
      // ECS rewrites the weights during every canary; Pulumi must not put them back.
    }, { parent: this, ignoreChanges: ['actions'] });

    const trafficShiftRole = new aws.iam.Role(`${name}-traffic-shift-role`, {
      description: 'Lets ECS shift ALB traffic between target groups during canary deployments',
      assumeRolePolicy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      }),
      tags: args.tags,
    }, parent);
    new aws.iam.RolePolicyAttachment(`${name}-traffic-shift-policy`, {
      role: trafficShiftRole.name,
      policyArn: 'arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers',
    }, parent);

    this.albArn = alb.arn;
    this.albArnSuffix = alb.arnSuffix;
    this.dnsName = alb.dnsName;
    this.primaryTargetGroupArn = primary.arn;
    this.primaryTargetGroupArnSuffix = primary.arnSuffix;
    this.alternateTargetGroupArn = alternate.arn;
    this.productionListenerRuleArn = rule.arn;
    this.httpsListenerArn = https.arn;
    this.serviceSecurityGroupId = serviceSg.id;
    this.trafficShiftRoleArn = trafficShiftRole.arn;
    this.registerOutputs({
      albArn: this.albArn,
      albArnSuffix: this.albArnSuffix,
      dnsName: this.dnsName,
      primaryTargetGroupArn: this.primaryTargetGroupArn,
      primaryTargetGroupArnSuffix: this.primaryTargetGroupArnSuffix,
      alternateTargetGroupArn: this.alternateTargetGroupArn,
      productionListenerRuleArn: this.productionListenerRuleArn,
      httpsListenerArn: this.httpsListenerArn,
      serviceSecurityGroupId: this.serviceSecurityGroupId,
      trafficShiftRoleArn: this.trafficShiftRoleArn,
    });
  }
}
