import { DescribeRulesCommand, type ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';

/**
 * The production listener rule as the canary analysis reads it: which of the service's two target
 * groups gets how much of the traffic. ECS (deploymentConfiguration CANARY with advancedConfiguration)
 * rewrites this rule's forward weights: all traffic on the group serving the running revision, then
 * canaryPercent on the other group (where the new revision's tasks are registered) for the canary
 * bake, then all of it there. ECS alternates the groups: after a successful deployment the group that
 * was the "alternate" serves production, so the next deployment's new tasks go to the "primary".
 * Which group holds the candidate is therefore read from the weights, never from the group's name.
 */

const ARN_HEAD = String.raw`^arn:aws[a-z-]*:elasticloadbalancing:([a-z0-9-]+):(\d{12}):`;
const TARGET_GROUP_ARN = new RegExp(`${ARN_HEAD}(targetgroup/([A-Za-z0-9-]{1,32})/[0-9a-f]+)$`);
const LISTENER_RULE_ARN = new RegExp(`${ARN_HEAD}listener-rule/(app/[A-Za-z0-9-]{1,32}/[0-9a-f]+)/[0-9a-f]+/[0-9a-f]+$`);

export interface ParsedArn {
  region: string;
  account: string;
  /** The CloudWatch dimension value: `targetgroup/<name>/<id>` (TargetGroup) or `app/<name>/<id>` (LoadBalancer). */
  dimension: string;
}

/** A target group ARN's parts; undefined when it is not an ELBv2 target group ARN. */
export function parseTargetGroupArn(arn: string): (ParsedArn & { name: string }) | undefined {
  const m = TARGET_GROUP_ARN.exec(arn);
  return m ? { region: m[1]!, account: m[2]!, dimension: m[3]!, name: m[4]! } : undefined;
}

/** An ALB listener rule ARN's parts (its dimension is the ALB's); undefined when it is not one. */
export function parseListenerRuleArn(arn: string): ParsedArn | undefined {
  const m = LISTENER_RULE_ARN.exec(arn);
  return m ? { region: m[1]!, account: m[2]!, dimension: m[3]! } : undefined;
}

/** The short name of a target group ARN (or the ARN itself when it is not one), for messages. */
export const groupName = (arn: string): string => parseTargetGroupArn(arn)?.name ?? arn;

/** Percent of the rule's traffic per target group ARN (0-100; all 0 when the rule sends nothing). */
export type Weights = Record<string, number>;

export const describeWeights = (weights: Weights): string =>
  Object.entries(weights).map(([arn, percent]) => `${groupName(arn)} ${round(percent)} %`).join(' / ');

const round = (percent: number) => Math.round(percent * 10) / 10;

/**
 * The forward weights of the rule between the two groups, as shares of the rule's traffic (ALB weights
 * are relative, 0-999; ECS writes percentages, but a share is right either way). A rule sending traffic
 * to a group outside the two is a wrong input (another service's rule or groups): it throws.
 */
export async function readWeights(elb: ElasticLoadBalancingV2Client, ruleArn: string, groups: readonly string[]): Promise<Weights> {
  const answer = await elb.send(new DescribeRulesCommand({ RuleArns: [ruleArn] }));
  const rule = answer.Rules?.find((r) => r.RuleArn === ruleArn) ?? answer.Rules?.[0];
  if (!rule) throw new Error(`DescribeRules returned no rule for ${ruleArn}`);
  const forward = rule.Actions?.find((a) => a.Type === 'forward');
  if (!forward) throw new Error(`listener rule ${ruleArn} has no forward action (${(rule.Actions ?? []).map((a) => a.Type).join(', ') || 'no action'}): it is not the production listener rule ECS shifts`);
  const tuples = forward.ForwardConfig?.TargetGroups?.length
    ? forward.ForwardConfig.TargetGroups.map((t) => ({ arn: t.TargetGroupArn ?? '', weight: t.Weight ?? 1 }))
    : forward.TargetGroupArn ? [{ arn: forward.TargetGroupArn, weight: 1 }] : [];
  const stray = tuples.filter((t) => t.weight > 0 && !groups.includes(t.arn));
  if (stray.length > 0)
    throw new Error(`listener rule ${ruleArn} forwards traffic to ${stray.map((t) => t.arn).join(', ')}, which is not in target_groups (${groups.join(', ')}): pass the service's own primary and alternate target groups`);
  const total = tuples.reduce((sum, t) => sum + t.weight, 0);
  const weights: Weights = {};
  for (const arn of groups) {
    const weight = tuples.filter((t) => t.arn === arn).reduce((sum, t) => sum + t.weight, 0);
    weights[arn] = total > 0 ? (weight / total) * 100 : 0;
  }
  return weights;
}

/** The one group that gets all the traffic, if one does. */
export const servingAlone = (weights: Weights): string | undefined => Object.keys(weights).find((arn) => weights[arn]! >= 100);

/** Both groups get traffic: ECS is in its canary phase. */
export const isSplit = (weights: Weights): boolean => Object.values(weights).filter((p) => p > 0).length >= 2;

export interface CandidateChoice {
  candidate: string;
  stable: string;
  /** Why this group is the candidate, for the report. */
  why: string;
}

/**
 * Which group of a split holds the canary. Best evidence: the group that had no traffic when this
 * step last saw the rule before the split (ECS registers the new revision's tasks in the idle group
 * and shifts canaryPercent there). Without such a reading (the first reading was already split), the
 * group with the smaller share: the stack's canaryPercent is 1-50 (infra/settings.ts), so the canary
 * gets the smaller weight; at exactly 50/50 there is no telling, and undefined is returned.
 */
export function chooseCandidate(weights: Weights, servingBefore: string | undefined): CandidateChoice | undefined {
  const [a, b] = Object.keys(weights) as [string, string];
  if (servingBefore && (servingBefore === a || servingBefore === b)) {
    const candidate = servingBefore === a ? b : a;
    return { candidate, stable: servingBefore, why: `it had 0 % before the shift, when ${groupName(servingBefore)} served all traffic` };
  }
  if (weights[a] === weights[b]) return undefined;
  const [candidate, stable] = weights[a]! < weights[b]! ? [a, b] : [b, a];
  return { candidate, stable, why: 'it has the smaller share: ECS sends canaryPercent (at most 50 %) to the new revision' };
}
