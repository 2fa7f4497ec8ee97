import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';

export interface DnsArgs {
  /** The service's public host name (the certificate's name, the Stripe webhook URL's host). */
  domainName: string;
  /** Route 53 hosted zone holding domainName. */
  hostedZoneId: string;
  albDnsName: pulumi.Input<string>;
  albZoneId: pulumi.Input<string>;
}

/**
 * `domainName` as a Route 53 alias A record to the ALB, so the service URL and the Stripe webhook
 * URL reach the load balancer without anyone editing DNS by hand. Alias records are free, follow
 * the ALB's changing addresses, and answer health-evaluated (a dead ALB is not served).
 */
export class Dns extends pulumi.ComponentResource {
  public readonly fqdn: pulumi.Output<string>;

  constructor(name: string, args: DnsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('upiik:edge:Dns', name, {}, opts);
    if (!/^Z[A-Z0-9]{1,32}$/.test(args.hostedZoneId)) throw new Error(`Dns: hostedZoneId must be a Route 53 zone id, got ${args.hostedZoneId}`);
    const record = new aws.route53.Record(`${name}-alias`, {
      zoneId: args.hostedZoneId,
      name: args.domainName,
      type: 'A',
      aliases: [{ name: args.albDnsName, zoneId: args.albZoneId, evaluateTargetHealth: true }],
    }, { parent: this });
    this.fqdn = record.fqdn;
    this.registerOutputs({ fqdn: this.fqdn });
  }
}
