import { PolicyResource, TYPES, Verdict, environmentOf, isUnknown, ofType } from './types';

const EDGE_PORTS = new Set([80, 443]);
/** Any prefix length of 0 is the whole address space, however the address part is written. */
const isWorld = (cidr: unknown): boolean => typeof cidr === 'string' && /\/0+$/.test(cidr.trim());
/**
 * Only TCP honours the port range here: protocol -1 (all) or a number other than tcp/udp/icmp opens
 * every port whatever fromPort/toPort say, and the edge serves HTTP(S) over TCP only.
 */
const isTcp = (protocol: unknown): boolean => typeof protocol === 'string' && ['tcp', '6'].includes(protocol.toLowerCase());
/** A CIDR list as the policy reads it: absent is empty, an unknown list is one unknown entry. */
const cidrList = (value: unknown): unknown[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

interface Ingress {
  protocol?: unknown;
  fromPort?: unknown;
  toPort?: unknown;
  cidrBlocks?: unknown;
  ipv6CidrBlocks?: unknown;
}

/**
 * No security group open to the world, except the internet edge (tagged Exposure=internet, the
 * ALB) on exactly 80 and 443 over TCP (from and to port both). Standalone ingress rules may never
 * open to the world. At preview a CIDR computed from another resource (a VPC's block) is unknown:
 * the rule waits for the update unless the edge exception already covers it.
 */
export function noWorldOpenIngress(resources: PolicyResource[]): Verdict {
  const verdict = new Verdict();
  for (const sg of ofType(resources, TYPES.securityGroup)) {
    if (!verdict.known(sg, 'tags', sg.props.tags)) continue;
    const edge = (sg.props.tags as Record<string, string> | undefined)?.Exposure === 'internet';
    const ingress = sg.props.ingress;
    if (isUnknown(ingress)) {
      verdict.pending(sg, 'ingress');
      continue;
    }
    ((ingress as Ingress[] | undefined) ?? []).forEach((rule, i) => {
      const cidrs = [...cidrList(rule.cidrBlocks), ...cidrList(rule.ipv6CidrBlocks)];
      const world = cidrs.some(isWorld);
      if (!world && !cidrs.some(isUnknown)) return;
      if (!verdict.known(sg, `ingress[${i}] protocol and ports`, [rule.protocol, rule.fromPort, rule.toPort])) return;
      const edgePort = isTcp(rule.protocol) && rule.fromPort === rule.toPort && EDGE_PORTS.has(rule.fromPort as number);
      if (edge && edgePort) return;
      if (world) verdict.fail(`${sg.name}: ingress ${String(rule.protocol)} ${String(rule.fromPort)}-${String(rule.toPort)} is open to the world`);
      else verdict.pending(sg, `ingress[${i}] CIDR blocks`);
    });
  }
  for (const rule of [...ofType(resources, TYPES.ingressRule), ...ofType(resources, TYPES.legacyIngressRule)]) {
    if (rule.props.type === 'egress') continue;
    const cidrs = [rule.props.cidrIpv4, rule.props.cidrIpv6, ...cidrList(rule.props.cidrBlocks)];
    if (cidrs.some(isWorld)) verdict.fail(`${rule.name}: standalone ingress rule open to the world`);
    else if (cidrs.some(isUnknown)) verdict.pending(rule, 'CIDR');
  }
  return verdict;
}

/**
 * Production load balancers keep deletion protection on (a replace or a stray destroy would drop
 * every request and the DNS name the webhook URL points at) and write access logs to a bucket.
 */
export function productionLoadBalancersProtectedAndLogged(resources: PolicyResource[], environment = environmentOf(resources)): Verdict {
  const verdict = new Verdict();
  if (environment !== 'production') return verdict;
  for (const lb of ofType(resources, TYPES.loadBalancer)) {
    if (verdict.known(lb, 'enableDeletionProtection', lb.props.enableDeletionProtection) && lb.props.enableDeletionProtection !== true)
      verdict.fail(`${lb.name}: deletion protection is off in production`);
    const logs = lb.props.accessLogs as { enabled?: unknown; bucket?: unknown } | undefined;
    if (isUnknown(logs)) verdict.pending(lb, 'accessLogs');
    else if (logs?.enabled !== true || logs.bucket === undefined || logs.bucket === '') verdict.fail(`${lb.name}: access logs are off in production`);
  }
  return verdict;
}
