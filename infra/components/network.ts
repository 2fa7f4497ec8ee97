import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';

export interface NetworkArgs {
  /** Use an existing VPC: then both subnet lists are required (two AZs each). */
  vpcId?: string;
  publicSubnetIds?: string[];
  privateSubnetIds?: string[];
  /** CIDR of the VPC created when vpcId is unset. */
  vpcCidr: string;
  /**
   * Retention of the VPC flow logs (CloudWatch Logs) of a VPC this component creates. A VPC given
   * by vpcId is its owner's: flow logs there are the owner's job (see docs/infra.md).
   */
  flowLogRetentionDays: number;
  tags: Record<string, string>;
}

/**
 * The VPC the service lives in: either the given one, or a new VPC with a public and a private
 * subnet in each of two AZs, one NAT gateway per AZ (private tasks reach Stripe and ECR without
 * a public IP, and an AZ outage does not take egress with it).
 */
export class Network extends pulumi.ComponentResource {
  public readonly vpcId: pulumi.Output<string>;
  public readonly publicSubnetIds: pulumi.Output<string[]>;
  public readonly privateSubnetIds: pulumi.Output<string[]>;
  /** The VPC's primary CIDR: the ALB's egress is limited to the tasks' port inside it. */
  public readonly vpcCidr: pulumi.Output<string>;
  /** The flow log of a created VPC; undefined when the VPC was given. */
  public readonly flowLogId?: pulumi.Output<string>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super('upiik:network:Network', name, {}, opts);
    if (!Number.isInteger(args.flowLogRetentionDays) || args.flowLogRetentionDays < 1)
      throw new Error(`Network: flowLogRetentionDays must be a positive whole number of days, got ${args.flowLogRetentionDays}`);
    if (args.vpcId) {
      if ((args.publicSubnetIds?.length ?? 0) < 2 || (args.privateSubnetIds?.length ?? 0) < 2)
        throw new Error('Network: publicSubnetIds and privateSubnetIds need at least two subnets (two AZs) when vpcId is given');
      this.vpcId = pulumi.output(args.vpcId);
      this.publicSubnetIds = pulumi.output(args.publicSubnetIds ?? []);
      this.privateSubnetIds = pulumi.output(args.privateSubnetIds ?? []);
      this.vpcCidr = aws.ec2.getVpcOutput({ id: args.vpcId }, { parent: this }).cidrBlock;
    } else {
      const created = this.createVpc(name, args);
      this.vpcId = created.vpcId;
      this.publicSubnetIds = created.publicSubnetIds;
      this.privateSubnetIds = created.privateSubnetIds;
      this.vpcCidr = created.vpcCidr;
      this.flowLogId = created.flowLogId;
    }
    this.registerOutputs({
      vpcId: this.vpcId, publicSubnetIds: this.publicSubnetIds, privateSubnetIds: this.privateSubnetIds, vpcCidr: this.vpcCidr, flowLogId: this.flowLogId,
    });
  }

  private createVpc(name: string, args: NetworkArgs) {
    const parent = { parent: this };
    const tag = (role: string) => ({ ...args.tags, Name: `${name}-${role}` });
    const zones = aws.getAvailabilityZonesOutput({ state: 'available' }, parent).names.apply((names) => {
      if (names.length < 2) throw new Error('Network: the region needs at least two available AZs');
      return names.slice(0, 2);
    });
    const vpc = new aws.ec2.Vpc(`${name}-vpc`, { cidrBlock: args.vpcCidr, enableDnsHostnames: true, enableDnsSupport: true, tags: tag('vpc') }, parent);
    const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: tag('igw') }, parent);
    const publicRoutes = new aws.ec2.RouteTable(`${name}-public-rt`, {
      vpcId: vpc.id,
      routes: [{ cidrBlock: '0.0.0.0/0', gatewayId: igw.id }],
      tags: tag('public-rt'),
    }, parent);

    const publicSubnets: aws.ec2.Subnet[] = [];
    const privateSubnets: aws.ec2.Subnet[] = [];
    for (const i of [0, 1]) {
      const az = zones.apply((z) => z[i] as string);
      // /16 split into /20s: public 0-1, private 8-9; room left for more tiers.
      const pub = new aws.ec2.Subnet(`${name}-public-${i}`, {
        vpcId: vpc.id, availabilityZone: az, cidrBlock: subnetCidr(args.vpcCidr, i), mapPublicIpOnLaunch: false, tags: tag(`public-${i}`),
      }, parent);
      new aws.ec2.RouteTableAssociation(`${name}-public-${i}-rta`, { subnetId: pub.id, routeTableId: publicRoutes.id }, parent);
      const eip = new aws.ec2.Eip(`${name}-nat-${i}-eip`, { domain: 'vpc', tags: tag(`nat-${i}`) }, parent);
      const nat = new aws.ec2.NatGateway(`${name}-nat-${i}`, { subnetId: pub.id, allocationId: eip.id, tags: tag(`nat-${i}`) }, { parent: this, dependsOn: [igw] });
      const priv = new aws.ec2.Subnet(`${name}-private-${i}`, {
        vpcId: vpc.id, availabilityZone: az, cidrBlock: subnetCidr(args.vpcCidr, 8 + i), tags: tag(`private-${i}`),
      }, parent);
      const rt = new aws.ec2.RouteTable(`${name}-private-${i}-rt`, {
        vpcId: vpc.id, routes: [{ cidrBlock: '0.0.0.0/0', natGatewayId: nat.id }], tags: tag(`private-${i}-rt`),
      }, parent);
      new aws.ec2.RouteTableAssociation(`${name}-private-${i}-rta`, { subnetId: priv.id, routeTableId: rt.id }, parent);
      publicSubnets.push(pub);
      privateSubnets.push(priv);
    }
    return {
      vpcId: vpc.id,
      vpcCidr: vpc.cidrBlock,
      publicSubnetIds: pulumi.all(publicSubnets.map((s) => s.id)),
      privateSubnetIds: pulumi.all(privateSubnets.map((s) => s.id)),
      flowLogId: this.createFlowLog(name, vpc, args).id,
    };
  }

  /** Every accepted and rejected flow of the VPC to CloudWatch Logs, through a role only VPC Flow Logs can assume. */
  private createFlowLog(name: string, vpc: aws.ec2.Vpc, args: NetworkArgs): aws.ec2.FlowLog {
    const parent = { parent: this };
    const logGroup = new aws.cloudwatch.LogGroup(`${name}-flow-logs`, { retentionInDays: args.flowLogRetentionDays, tags: args.tags }, parent);
    const role = new aws.iam.Role(`${name}-flow-logs-role`, {
      description: 'Lets VPC Flow Logs write this VPC\'s flow log group',
      assumeRolePolicy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'vpc-flow-logs.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      }),
      tags: args.tags,
    }, parent);
    const policy = new aws.iam.RolePolicy(`${name}-flow-logs-policy`, {
      role: role.id,
      policy: logGroup.arn.apply((arn) => JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'], Resource: [arn, `${arn}:*`] },
          // Listing log groups is not resource-scoped; the AWS flow-log role example grants it on *.
          { Effect: 'Allow', Action: 'logs:DescribeLogGroups', Resource: '*' },
        ],
      })),
    }, parent);
    return new aws.ec2.FlowLog(`${name}-flow-log`, {
      vpcId: vpc.id,
      trafficType: 'ALL',
      logDestinationType: 'cloud-watch-logs',
      logDestination: logGroup.arn,
      iamRoleArn: role.arn,
      maxAggregationInterval: 60,
      tags: { ...args.tags, Name: `${name}-flow-log` },
    }, { parent: this, dependsOn: [policy] });
  }
}

/** The index-th /20 of a /16 VPC CIDR (e.g. 10.40.0.0/16, 8 -> 10.40.128.0/20). */
export function subnetCidr(vpcCidr: string, index: number): string {
  const match = /^(\d+)\.(\d+)\.\d+\.\d+\/16$/.exec(vpcCidr);
  if (!match) throw new Error(`Network: vpcCidr must be a /16 (got ${vpcCidr})`);
  return `${match[1]}.${match[2]}.${index * 16}.0/20`;
}
