import { CLOUDWATCH_METRICS } from '../../service/shared/metric-names';
import { PolicyResource, TYPES, Verdict, isUnknown, ofType } from './types';

interface MetricSpec {
  namespace?: unknown;
  metricName?: unknown;
  dimensions?: unknown;
}
interface MetricQuery {
  id?: unknown;
  expression?: unknown;
  metric?: MetricSpec;
}

/** The alarm's metrics: the single metric, or each metric query's metric, with where it sits. */
function metricsOf(alarm: PolicyResource, verdict: Verdict): { at: string; spec: MetricSpec; id?: string }[] {
  const p = alarm.props;
  const out: { at: string; spec: MetricSpec; id?: string }[] = [];
  if (p.metricName !== undefined || p.namespace !== undefined) out.push({ at: 'metric', spec: { namespace: p.namespace, metricName: p.metricName, dimensions: p.dimensions } });
  if (isUnknown(p.metricQueries)) {
    verdict.pending(alarm, 'metricQueries');
    return out;
  }
  ((p.metricQueries as MetricQuery[] | undefined) ?? []).forEach((q, i) => {
    if (isUnknown(q.metric)) verdict.pending(alarm, `metricQueries[${i}].metric`);
    else if (q.metric) out.push({ at: `metricQueries[${i}]`, spec: q.metric, id: typeof q.id === 'string' ? q.id : undefined });
  });
  return out;
}

const ELASTICACHE = 'AWS/ElastiCache';
/** Member clusters of a cluster-mode-disabled replication group: `<group id>-001`, `-002`, ... */
const membersOf = (groupId: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) => `${groupId.toLowerCase()}-${String(i + 1).padStart(3, '0')}`);

/**
 * ElastiCache publishes host and engine metrics per member cluster (`CacheClusterId` =
 * `<group>-001`, ...), not per replication group: an alarm on `ReplicationGroupId` never gets data.
 * An alarm that watches a metric of some members of a group this stack declares watches all of
 * them (after a failover the primary is another member).
 */
export function elasticacheAlarmsWatchMembers(resources: PolicyResource[]): Verdict {
  const verdict = new Verdict();
  const groups = ofType(resources, TYPES.replicationGroup)
    .filter((rg) => typeof rg.props.replicationGroupId === 'string' && typeof rg.props.numCacheClusters === 'number')
    .map((rg) => ({ name: rg.name, members: membersOf(rg.props.replicationGroupId as string, rg.props.numCacheClusters as number) }));
  for (const alarm of ofType(resources, TYPES.metricAlarm)) {
    const watched = new Map<string, Set<string>>();
    for (const { at, spec } of metricsOf(alarm, verdict)) {
      if (!verdict.known(alarm, `${at} namespace`, spec.namespace) || spec.namespace !== ELASTICACHE) continue;
      if (!verdict.known(alarm, `${at} dimensions`, spec.dimensions)) continue;
      const dims = (spec.dimensions as Record<string, unknown> | undefined) ?? {};
      if ('ReplicationGroupId' in dims) verdict.fail(`${alarm.name}: ${at} uses the ReplicationGroupId dimension, which ElastiCache does not publish ${String(spec.metricName)} under; use CacheClusterId per member`);
      else if (typeof dims.CacheClusterId !== 'string') verdict.fail(`${alarm.name}: ${at} has no CacheClusterId dimension`);
      else {
        const metric = String(spec.metricName);
        watched.set(metric, (watched.get(metric) ?? new Set()).add(dims.CacheClusterId.toLowerCase()));
      }
    }
    for (const [metric, ids] of watched) {
      for (const group of groups) {
        if (!group.members.some((m) => ids.has(m))) continue;
        const missing = group.members.filter((m) => !ids.has(m));
        if (missing.length > 0) verdict.fail(`${alarm.name}: ${metric} watches only some members of ${group.name}; missing ${missing.join(', ')}`);
      }
    }
  }
  return verdict;
}

/** treatMissingData values that are a choice; `missing` is the provider's default and says nothing. */
const CHOSEN_MISSING_DATA = new Set(['breaching', 'notBreaching', 'ignore']);
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The service's EMF counters (CLOUDWATCH_METRICS.namespace) are only emitted when something
 * happens: a quiet period has no data at all. Alarms on them choose `treatMissingData` on purpose
 * (not the `missing` default), and metric math reads each of them through FILL(id, ...), so one
 * series without data does not turn the whole expression into no data.
 */
export function emfAlarmsHandleMissingData(resources: PolicyResource[], namespace: string = CLOUDWATCH_METRICS.namespace): Verdict {
  const verdict = new Verdict();
  for (const alarm of ofType(resources, TYPES.metricAlarm)) {
    const emf = metricsOf(alarm, verdict).filter(({ at, spec }) => verdict.known(alarm, `${at} namespace`, spec.namespace) && spec.namespace === namespace);
    if (emf.length === 0) continue;
    const treat = alarm.props.treatMissingData;
    if (verdict.known(alarm, 'treatMissingData', treat) && !CHOSEN_MISSING_DATA.has(treat as string))
      verdict.fail(`${alarm.name}: alarms on ${namespace} must choose treatMissingData (breaching, notBreaching or ignore), not ${String(treat ?? 'the default')}`);
    const ids = emf.flatMap((m) => (m.id ? [m.id] : []));
    const queries = alarm.props.metricQueries;
    (Array.isArray(queries) ? (queries as MetricQuery[]) : []).forEach((q, i) => {
      if (q.expression === undefined || !verdict.known(alarm, `metricQueries[${i}].expression`, q.expression)) return;
      const expression = String(q.expression);
      for (const id of ids) {
        const bare = expression.replace(new RegExp(`FILL\\(\\s*${escape(id)}\\s*,`, 'gi'), 'FILL(,');
        if (new RegExp(`(^|[^A-Za-z0-9_])${escape(id)}($|[^A-Za-z0-9_])`).test(bare))
          verdict.fail(`${alarm.name}: expression ${q.id as string} reads ${id} without FILL(${id}, ...)`);
      }
    });
  }
  return verdict;
}
