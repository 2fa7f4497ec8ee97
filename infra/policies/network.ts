import { PolicyResource, TYPES, ofType } from './types';

const WORLD = new Set(['0.0.0.0/0', '::/0']);
const EDGE_PORTS = new Set([80, 443]);

interface Ingress {
  fromPort?: number;
  toPort?: number;
  cidrBlocks?: string[];
  ipv6CidrBlocks?: string[];
}

/**
 * No security group open to the world, except the internet edge (tagged Exposure=internet, the
 * ALB) on exactly 80 and 443. Standalone ingress rules may never open to the world.
 */
export function noWorldOpenIngress(resources: PolicyResource[]): string[] {
  const violations: string[] = [];
  for (const sg of ofType(resources, TYPES.securityGroup)) {
    const edge = (sg.props.tags as Record<string, string> | undefined)?.Exposure === 'internet';
    for (const rule of (sg.props.ingress as Ingress[] | undefined) ?? []) {
      const world = [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? [])].some((c) => WORLD.has(c));
      if (!world) continue;
      const edgePort = rule.fromPort === rule.toPort && EDGE_PORTS.has(rule.fromPort ?? -1);
      if (!edge || !edgePort) violations.push(`${sg.name}: ingress ${rule.fromPort}-${rule.toPort} is open to the world`);
    }
  }
  for (const rule of [...ofType(resources, TYPES.ingressRule), ...ofType(resources, TYPES.legacyIngressRule)]) {
    const cidrs = [rule.props.cidrIpv4, rule.props.cidrIpv6, ...((rule.props.cidrBlocks as string[] | undefined) ?? [])];
    if (rule.props.type !== 'egress' && cidrs.some((c) => typeof c === 'string' && WORLD.has(c)))
      violations.push(`${rule.name}: standalone ingress rule open to the world`);
  }
  return violations;
}
