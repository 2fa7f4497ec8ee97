import { PolicyResource, TYPES, Verdict, ofType } from './types';

interface NameRule {
  /** The property holding the physical name (as @pulumi/aws names it). */
  property: string;
  max: number;
  /** Characters and shape AWS accepts, where a wrong one fails the create as surely as a long one. */
  pattern?: RegExp;
  rule?: string;
}

// Letters, digits and single hyphens, starting with a letter, not ending with a hyphen (ElastiCache, RDS).
const IDENTIFIER = /^[A-Za-z](?!.*--)[A-Za-z0-9-]*[A-Za-z0-9]$|^[A-Za-z]$/;
// Letters, digits and hyphens, not starting or ending with a hyphen (ELBv2).
const ELB_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;

/**
 * AWS name limits per resource type (see docs/infra.md for the sources). The provider's auto-name
 * is `<logical name>-<7 hex>`, so a long logical name breaks the limit even when no name is given.
 */
export const NAME_RULES: Record<string, NameRule> = {
  [TYPES.loadBalancer]: { property: 'name', max: 32, pattern: /^(?!internal-)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/, rule: 'letters, digits and hyphens, no hyphen at either end, not starting with internal-' },
  [TYPES.targetGroup]: { property: 'name', max: 32, pattern: ELB_NAME, rule: 'letters, digits and hyphens, no hyphen at either end' },
  [TYPES.replicationGroup]: { property: 'replicationGroupId', max: 40, pattern: IDENTIFIER, rule: 'a letter first, letters, digits and single hyphens, no hyphen at the end' },
  [TYPES.dbInstance]: { property: 'identifier', max: 63, pattern: IDENTIFIER, rule: 'a letter first, letters, digits and single hyphens, no hyphen at the end' },
  [TYPES.role]: { property: 'name', max: 64 },
  [TYPES.eventRule]: { property: 'name', max: 64 },
  [TYPES.bucket]: { property: 'bucket', max: 63 },
  [TYPES.bucketV2]: { property: 'bucket', max: 63 },
  [TYPES.managedPolicy]: { property: 'name', max: 128 },
  [TYPES.rolePolicy]: { property: 'name', max: 128 },
  [TYPES.securityGroup]: { property: 'name', max: 255 },
  [TYPES.ecsCluster]: { property: 'name', max: 255 },
  [TYPES.ecsService]: { property: 'name', max: 255 },
  [TYPES.metricAlarm]: { property: 'name', max: 255 },
  [TYPES.cacheSubnetGroup]: { property: 'name', max: 255 },
  [TYPES.cacheParameterGroup]: { property: 'name', max: 255 },
  [TYPES.dbSubnetGroup]: { property: 'name', max: 255 },
  [TYPES.dbParameterGroup]: { property: 'name', max: 255 },
  [TYPES.snsTopic]: { property: 'name', max: 256 },
  [TYPES.ecrRepository]: { property: 'name', max: 256 },
  [TYPES.kmsAlias]: { property: 'name', max: 256 },
  [TYPES.logGroup]: { property: 'name', max: 512 },
  [TYPES.secret]: { property: 'name', max: 512 },
};

/** Every physical name (given or generated) within its AWS limit and character rules. */
export function physicalNamesWithinLimits(resources: PolicyResource[]): Verdict {
  const verdict = new Verdict();
  for (const [type, rule] of Object.entries(NAME_RULES)) {
    for (const r of ofType(resources, type)) {
      const name = r.props[rule.property];
      if (name === undefined || !verdict.known(r, rule.property, name)) continue;
      const text = String(name);
      if (text.length > rule.max) verdict.fail(`${r.name}: ${rule.property} ${text} is ${text.length} characters; AWS allows ${rule.max}`);
      if (rule.pattern && !rule.pattern.test(text)) verdict.fail(`${r.name}: ${rule.property} ${text} breaks the AWS naming rule (${rule.rule})`);
    }
  }
  return verdict;
}
