import { UNKNOWN, isUnknown, type PolicyResource } from '../../infra/policies';
import { noWorldOpenIngress, productionLoadBalancersProtectedAndLogged } from '../../infra/policies/network';
import { customerKeysForTopicsAndSecrets, databasesEncryptedPrivateBackedUp, registriesImmutableAndScanned } from '../../infra/policies/stores';
import { TYPES, Verdict, containsUnknown, type Findings } from '../../infra/policies/types';

/**
 * The resource policies' contract (who is open to the world, how load balancers, databases,
 * registries and keys are configured), on small hand-built resource lists: each case is judged by
 * its exact findings, including what waits for the update because it is unknown at preview.
 * policy-violations.test.ts runs the real program with one violation per policy; this suite pins
 * the branches the program never takes (CIDRs written oddly, protocol numbers, a single CIDR
 * instead of a list, standalone egress rules, unknown tags, protocols and CIDRs).
 */
const findings = ({ violations, undecided }: Findings) => ({ violations, undecided });
const clean = { violations: [], undecided: [] };
const waits = (...undecided: string[]) => ({ violations: [], undecided: undecided.map((u) => `${u} is unknown until the update`) });
const fails = (...violations: string[]) => ({ violations, undecided: [] });

type Rule = Record<string, unknown>;
const EDGE_TAGS = { Environment: 'production', Exposure: 'internet' };
const securityGroup = (name: string, ingress: unknown, tags: unknown = { Environment: 'production' }): PolicyResource => ({
  type: TYPES.securityGroup, name, props: { tags, ingress },
});
const edgeGroup = (ingress: unknown) => securityGroup('alb', ingress, EDGE_TAGS);
const tcp = (port: number, cidrBlocks: unknown = ['0.0.0.0/0'], fields: Rule = {}): Rule => ({ protocol: 'tcp', fromPort: port, toPort: port, cidrBlocks, ...fields });
const ingressJudged = (...resources: PolicyResource[]) => findings(noWorldOpenIngress(resources));
const openToWorld = (name: string, protocol: string, from: number, to = from) => `${name}: ingress ${protocol} ${from}-${to} is open to the world`;

describe('no-world-open-ingress: what counts as the world', () => {
  test('a prefix length of 0 however many zeros, and a CIDR with spaces around it', () => {
    expect(ingressJudged(securityGroup('app', [tcp(22, ['0.0.0.0/00'])]))).toEqual(fails(openToWorld('app', 'tcp', 22)));
    expect(ingressJudged(securityGroup('app', [tcp(22, [], { ipv6CidrBlocks: [' ::/0 '] })]))).toEqual(fails(openToWorld('app', 'tcp', 22)));
    expect(ingressJudged(securityGroup('app', [tcp(22, ['0.0.0.0/0 '])]))).toEqual(fails(openToWorld('app', 'tcp', 22)));
  });

  test('a private block is not the world, even one whose prefix ends in 0', () => {
    expect(ingressJudged(securityGroup('app', [tcp(22, ['10.0.0.0/10', '10.0.0.0/20'], { ipv6CidrBlocks: ['fd00::/8'] })]))).toEqual(clean);
  });

  test('a CIDR given as one value instead of a list is read as that one entry', () => {
    expect(ingressJudged(securityGroup('app', [tcp(22, '0.0.0.0/0')]))).toEqual(fails(openToWorld('app', 'tcp', 22)));
    expect(ingressJudged(securityGroup('app', [tcp(22, undefined, { ipv6CidrBlocks: '::/0' })]))).toEqual(fails(openToWorld('app', 'tcp', 22)));
    // An unknown list is one unknown entry: the rule waits for it.
    expect(ingressJudged(securityGroup('app', [tcp(22, UNKNOWN)]))).toEqual(waits('app: ingress[0] CIDR blocks'));
  });

  test('a rule without any CIDR list opens nothing', () => {
    expect(ingressJudged(securityGroup('app', [{ protocol: 'tcp', fromPort: 22, toPort: 22 }]))).toEqual(clean);
  });
});

describe('no-world-open-ingress: the internet edge', () => {
  test('TCP by name in any case or by number 6, on exactly 80 or 443, passes at the edge', () => {
    expect(ingressJudged(edgeGroup([tcp(443, ['0.0.0.0/0'], { protocol: '6' }), tcp(80, ['0.0.0.0/0'], { protocol: 'TCP' }), tcp(443, ['::/0'], { cidrBlocks: undefined, ipv6CidrBlocks: ['::/0'] })]))).toEqual(clean);
  });

  test('another protocol, another port or a range fails at the edge', () => {
    const rules = [
      tcp(443, ['0.0.0.0/0'], { protocol: 'udp' }),
      tcp(443, ['0.0.0.0/0'], { protocol: '-1' }),
      tcp(443, ['0.0.0.0/0'], { protocol: '17' }),
      tcp(22),
      tcp(80, ['0.0.0.0/0'], { toPort: 443 }),
    ];
    expect(ingressJudged(edgeGroup(rules))).toEqual(fails(
      openToWorld('alb', 'udp', 443), openToWorld('alb', '-1', 443), openToWorld('alb', '17', 443), openToWorld('alb', 'tcp', 22), openToWorld('alb', 'tcp', 80, 443),
    ));
  });

  test('only the tag Exposure=internet makes the edge: another value, another tag or no tags at all is not it', () => {
    expect(ingressJudged(securityGroup('app', [tcp(443)], { Environment: 'production', Exposure: 'internal' }))).toEqual(fails(openToWorld('app', 'tcp', 443)));
    expect(ingressJudged(securityGroup('app', [tcp(443)], { Environment: 'production', Role: 'internet' }))).toEqual(fails(openToWorld('app', 'tcp', 443)));
    const untagged: PolicyResource = { type: TYPES.securityGroup, name: 'app', props: { ingress: [tcp(443)] } };
    expect(ingressJudged(untagged)).toEqual(fails(openToWorld('app', 'tcp', 443)));
    expect(ingressJudged(securityGroup('app', [tcp(443)], null))).toEqual(fails(openToWorld('app', 'tcp', 443)));
  });

  test('an unknown CIDR at the edge on 443 is covered by the exception; elsewhere it waits', () => {
    expect(ingressJudged(edgeGroup([tcp(443, [UNKNOWN])]))).toEqual(clean);
    expect(ingressJudged(edgeGroup([tcp(443), tcp(22, ['10.0.0.0/16', UNKNOWN])]))).toEqual(waits('alb: ingress[1] CIDR blocks'));
    expect(ingressJudged(securityGroup('app', [tcp(443, [UNKNOWN])]))).toEqual(waits('app: ingress[0] CIDR blocks'));
  });
});

describe('no-world-open-ingress: unknown at preview', () => {
  const rule = tcp(443);

  test('tags unknown, wholly or in part: the group waits for them and its ingress is not judged', () => {
    expect(ingressJudged(securityGroup('app', [rule], UNKNOWN))).toEqual(waits('app: tags'));
    // Only some tag values unknown (the Exposure one known) is still unknown tags.
    expect(ingressJudged(securityGroup('app', [rule], { Environment: UNKNOWN, Exposure: 'internal' }))).toEqual(waits('app: tags'));
  });

  test('the ingress list unknown waits as a whole', () => {
    expect(ingressJudged(edgeGroup(UNKNOWN))).toEqual(waits('alb: ingress'));
  });

  test('protocol or ports unknown on a rule open to the world wait, named by the rule\'s index, even at the edge', () => {
    expect(ingressJudged(edgeGroup([tcp(80), tcp(443, ['0.0.0.0/0'], { protocol: UNKNOWN })]))).toEqual(waits('alb: ingress[1] protocol and ports'));
    expect(ingressJudged(edgeGroup([tcp(443, ['0.0.0.0/0'], { toPort: UNKNOWN })]))).toEqual(waits('alb: ingress[0] protocol and ports'));
    expect(ingressJudged(securityGroup('app', [tcp(22, ['::/0'], { cidrBlocks: undefined, ipv6CidrBlocks: ['::/0'], fromPort: UNKNOWN })]))).toEqual(waits('app: ingress[0] protocol and ports'));
  });

  test('protocol or ports unknown on a private rule are nobody\'s concern', () => {
    expect(ingressJudged(securityGroup('app', [tcp(22, ['10.0.0.0/16'], { protocol: UNKNOWN, fromPort: UNKNOWN })]))).toEqual(clean);
  });
});

describe('no-world-open-ingress: standalone rules', () => {
  const rule = (name: string, props: Record<string, unknown>, type: string = TYPES.ingressRule): PolicyResource => ({ type, name, props });
  const standaloneOpen = (name: string) => `${name}: standalone ingress rule open to the world`;

  test('an ingress rule open to the world fails, by IPv4, IPv6 or a CIDR list (or one CIDR) of the legacy rule', () => {
    expect(ingressJudged(
      rule('v4', { cidrIpv4: '0.0.0.0/00', fromPort: 443, toPort: 443, ipProtocol: 'tcp' }),
      rule('v6', { cidrIpv6: ' ::/0 ' }),
      rule('legacy', { type: 'ingress', cidrBlocks: ['10.0.0.0/8', '0.0.0.0/0'] }, TYPES.legacyIngressRule),
      rule('legacy-one', { type: 'ingress', cidrBlocks: '0.0.0.0/0' }, TYPES.legacyIngressRule),
    )).toEqual(fails(standaloneOpen('v4'), standaloneOpen('v6'), standaloneOpen('legacy'), standaloneOpen('legacy-one')));
  });

  test('a legacy egress rule open to the world is not an ingress finding, whatever CIDR it has', () => {
    expect(ingressJudged(
      rule('out', { type: 'egress', cidrBlocks: ['0.0.0.0/0'], ipv6CidrBlocks: ['::/0'] }, TYPES.legacyIngressRule),
      rule('out-later', { type: 'egress', cidrBlocks: [UNKNOWN] }, TYPES.legacyIngressRule),
    )).toEqual(clean);
  });

  test('a private CIDR passes; an unknown one (or an unknown list) waits', () => {
    expect(ingressJudged(
      rule('private', { cidrIpv4: '10.0.0.0/16' }),
      rule('no-cidr', { referencedSecurityGroupId: 'sg-123' }),
      rule('private-legacy', { type: 'ingress', cidrBlocks: ['10.0.0.0/16'] }, TYPES.legacyIngressRule),
    )).toEqual(clean);
    expect(ingressJudged(
      rule('later', { cidrIpv4: UNKNOWN }),
      rule('later-legacy', { type: 'ingress', cidrBlocks: UNKNOWN }, TYPES.legacyIngressRule),
    )).toEqual(waits('later: CIDR', 'later-legacy: CIDR'));
  });
});

describe('production-load-balancers-protected-and-logged', () => {
  const lb = (props: Record<string, unknown>): PolicyResource => ({
    type: TYPES.loadBalancer, name: 'alb',
    props: { tags: { Environment: 'production' }, enableDeletionProtection: true, accessLogs: { enabled: true, bucket: 'alb-logs' }, ...props },
  });
  const logsOff = 'alb: access logs are off in production';

  test('protected and logged to a bucket passes', () => {
    expect(findings(productionLoadBalancersProtectedAndLogged([lb({})]))).toEqual(clean);
  });

  test('access logs enabled without a bucket, or with an empty one, are off', () => {
    expect(findings(productionLoadBalancersProtectedAndLogged([lb({ accessLogs: { enabled: true } })]))).toEqual(fails(logsOff));
    expect(findings(productionLoadBalancersProtectedAndLogged([lb({ accessLogs: { enabled: true, bucket: '' } })]))).toEqual(fails(logsOff));
    expect(findings(productionLoadBalancersProtectedAndLogged([lb({ accessLogs: { enabled: false, bucket: 'alb-logs' } })]))).toEqual(fails(logsOff));
  });

  test('access logs unknown wait, named', () => {
    expect(findings(productionLoadBalancersProtectedAndLogged([lb({ accessLogs: UNKNOWN })]))).toEqual(waits('alb: accessLogs'));
  });

  test('deletion protection unknown waits, named, and is no violation yet', () => {
    expect(findings(productionLoadBalancersProtectedAndLogged([lb({ enableDeletionProtection: UNKNOWN })]))).toEqual(waits('alb: enableDeletionProtection'));
  });
});

describe('databases-encrypted-private-backed-up: unknown at preview', () => {
  const db = (props: Record<string, unknown>): PolicyResource => ({
    type: TYPES.dbInstance, name: 'payments-db',
    props: { storageEncrypted: true, publiclyAccessible: false, backupRetentionPeriod: 7, manageMasterUserPassword: true, ...props },
  });

  test('whether it is publicly accessible waits, named', () => {
    expect(findings(databasesEncryptedPrivateBackedUp([db({})], 'staging'))).toEqual(clean);
    expect(findings(databasesEncryptedPrivateBackedUp([db({ publiclyAccessible: UNKNOWN })], 'staging'))).toEqual(waits('payments-db: publiclyAccessible'));
  });
});

describe('registries-immutable-and-scanned: unknown at preview', () => {
  const repo = (props: Record<string, unknown>): PolicyResource => ({
    type: TYPES.ecrRepository, name: 'payments', props: { imageTagMutability: 'IMMUTABLE', imageScanningConfiguration: { scanOnPush: true }, ...props },
  });

  test('the scanning configuration unknown, wholly or in part, waits, named', () => {
    expect(findings(registriesImmutableAndScanned([repo({})]))).toEqual(clean);
    expect(findings(registriesImmutableAndScanned([repo({ imageScanningConfiguration: UNKNOWN })]))).toEqual(waits('payments: imageScanningConfiguration'));
    expect(findings(registriesImmutableAndScanned([repo({ imageScanningConfiguration: { scanOnPush: UNKNOWN } })]))).toEqual(waits('payments: imageScanningConfiguration'));
  });
});

describe('customer-keys-for-topics-and-secrets', () => {
  const topic = (kmsMasterKeyId: unknown): PolicyResource => ({ type: TYPES.snsTopic, name: 'alarms', props: { kmsMasterKeyId } });
  const secret = (kmsKeyId: unknown): PolicyResource => ({ type: TYPES.secret, name: 'jwt', props: { kmsKeyId } });

  test('an empty key is no key', () => {
    expect(findings(customerKeysForTopicsAndSecrets([topic(''), secret('')]))).toEqual(fails(
      'alarms: not encrypted with a customer-managed KMS key (kmsMasterKeyId)',
      'jwt: not encrypted with a customer-managed KMS key (kmsKeyId)',
    ));
  });

  test('a customer key passes, an unknown one (created in the stack) waits for nothing', () => {
    expect(findings(customerKeysForTopicsAndSecrets([topic('alias/payments-alarms'), secret(UNKNOWN)]))).toEqual(clean);
  });
});

describe('unknown values and the verdict', () => {
  test('isUnknown: only the marker object; null, primitives and other objects are known', () => {
    expect(isUnknown(UNKNOWN)).toBe(true);
    expect(isUnknown({ __pulumiUnknown: true })).toBe(true);
    expect(isUnknown(null)).toBe(false);
    expect(isUnknown(undefined)).toBe(false);
    expect(isUnknown('unknown')).toBe(false);
    expect(isUnknown({ __pulumiUnknown: 'true' })).toBe(false);
  });

  test('containsUnknown: any value inside, at any depth, however many values around it are known', () => {
    expect(containsUnknown({ a: 1, b: UNKNOWN })).toBe(true);
    expect(containsUnknown(['tcp', 443, UNKNOWN])).toBe(true);
    expect(containsUnknown({ outer: { known: 'x', inner: [1, UNKNOWN] } })).toBe(true);
    expect(containsUnknown({ a: 1, b: null, c: ['x'] })).toBe(false);
    expect(containsUnknown({})).toBe(false);
    expect(containsUnknown([])).toBe(false);
    expect(containsUnknown(null)).toBe(false);
  });

  test('a property pending twice is recorded once', () => {
    const verdict = new Verdict();
    const r: PolicyResource = { type: TYPES.securityGroup, name: 'app', props: {} };
    expect(verdict.known(r, 'tags', UNKNOWN)).toBe(false);
    expect(verdict.known(r, 'tags', { Exposure: UNKNOWN })).toBe(false);
    verdict.pending(r, 'tags');
    verdict.pending(r, 'ingress');
    expect(verdict.known(r, 'ingress', 'known')).toBe(true);
    expect(findings(verdict)).toEqual(waits('app: tags', 'app: ingress'));
  });
});
