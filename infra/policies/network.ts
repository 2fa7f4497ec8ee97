import { PolicyResource, TYPES, ofType } from './types';

const EDGE_PORTS = new Set([80, 443]);
/** Any prefix length of 0 is the whole address space, however the address part is written. */
const isWorld = (cidr: unknown): boolean => typeof cidr === 'string' && /\/0+$/.test(cidr.trim());
/**
 * Only TCP honours the port range here: protocol -1 (all) or a number other than tcp/udp/icmp opens
 * every port whatever fromPort/toPort say, and the edge serves HTTP(S) over TCP only.
 */
const isTcp = (protocol: unknown): boolean => typeof protocol === 'string' && ['tcp', '6'].includes(protocol.toLowerCase());

interface Ingress {
  protocol?: string;
  fromPort?: number;
  toPort?: number;
  cidrBlocks?: string[];
  ipv6CidrBlocks?: string[];
}

/**
 * No security group open to the world, except the internet edge (tagged Exposure=internet, the
 * ALB) on exactly 80 and 443 over TCP (from and to port both). Standalone ingress rules may never
 * open to the world.
 */
export function noWorldOpenIngress(resources: PolicyResource[]): string[] {
  const violations: string[] = [];
  for (const sg of ofType(resources, TYPES.securityGroup)) {
    const edge = (sg.props.tags as Record<string, string> | undefined)?.Exposure === 'internet';
    for (const rule of (sg.props.ingress as Ingress[] | undefined) ?? []) {
      const world = [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? [])].some(isWorld);
      if (!world) continue;
      const edgePort = isTcp(rule.protocol) && rule.fromPort === rule.toPort && EDGE_PORTS.has(rule.fromPort ?? -1);
      if (!edge || !edgePort) violations.push(`${sg.name}: ingress ${rule.protocol} ${rule.fromPort}-${rule.toPort} is open to the world`);
    }
  }
  for (const rule of [...ofType(resources, TYPES.ingressRule), ...ofType(resources, TYPES.legacyIngressRule)]) {
    const cidrs = [rule.props.cidrIpv4, rule.props.cidrIpv6, ...((rule.props.cidrBlocks as string[] | undefined) ?? [])];
    if (rule.props.type !== 'egress' && cidrs.some(isWorld))
      violations.push(`${rule.name}: standalone ingress rule open to the world`);
  }
  return violations;
}
