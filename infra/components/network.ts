import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';

export interface NetworkArgs {
  /** Use an existing VPC: then both subnet lists are required (two AZs each). */
  vpcId?: string;
  publicSubnetIds?: string[];
  privateSubnetIds?: string[];
  /** CIDR of the VPC created when vpcId is unset. */
  vpcCidr: string;
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

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super('upiik:network:Network', name, {}, opts);
    if (args.vpcId) {
      if ((args.publicSubnetIds?.length ?? 0) < 2 || (args.privateSubnetIds?.length ?? 0) < 2)
        throw new Error('Network: publicSubnetIds and privateSubnetIds need at least two subnets (two AZs) when vpcId is given');
      this.vpcId = pulumi.output(args.vpcId);
      this.publicSubnetIds = pulumi.output(args.publicSubnetIds ?? []);
      this.privateSubnetIds = pulumi.output(args.privateSubnetIds ?? []);
    } else {
      const created = this.createVpc(name, args);
      this.vpcId = created.vpcId;
      this.publicSubnetIds = created.publicSubnetIds;
      this.privateSubnetIds = created.privateSubnetIds;
    }
    this.registerOutputs({ vpcId: this.vpcId, publicSubnetIds: this.publicSubnetIds, privateSubnetIds: this.privateSubnetIds });
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
      publicSubnetIds: pulumi.all(publicSubnets.map((s) => s.id)),
      privateSubnetIds: pulumi.all(privateSubnets.map((s) => s.id)),
    };
  }
}

/** The index-th /20 of a /16 VPC CIDR (e.g. 10.40.0.0/16, 8 -> 10.40.128.0/20). */
export function subnetCidr(vpcCidr: string, index: number): string {
  const match = /^(\d+)\.(\d+)\.\d+\.\d+\/16$/.exec(vpcCidr);
  if (!match) throw new Error(`Network: vpcCidr must be a /16 (got ${vpcCidr})`);
  return `${match[1]}.${match[2]}.${index * 16}.0/20`;
}
