import { type ProgramRun, type RecordedResource, runProgram, type StackName } from './harness';
import { ALARMS, DEPLOYMENT_ROLLBACK_ALARMS, alarmsFor } from '../../infra/alarm-catalog';
import { CLOUDWATCH_METRICS } from '../../service/shared/metric-names';

/**
 * The alarms as CloudWatch would evaluate them. A small evaluator for the metric-math subset the
 * alarms use (IF, FILL, MAX/SUM over an array, arithmetic, comparison) runs each alarm's own
 * expressions over sample datapoints, missing ones included, and applies its evaluation periods,
 * datapoints-to-alarm and treatMissingData. So "no data", "too few attempts" and "30% failing"
 * are asserted on what is deployed, not on a copy of it.
 */

// ---- metric math ------------------------------------------------------------------------------

type Value = number | undefined;
type Node =
  | { kind: 'num'; value: number }
  | { kind: 'ref'; id: string }
  | { kind: 'call'; fn: string; args: Node[] }
  | { kind: 'array'; items: Node[] }
  | { kind: 'op'; op: string; left: Node; right: Node };

function parse(text: string): Node {
  const tokens = text.match(/\d+(?:\.\d+)?|[A-Za-z_]\w*|>=|<=|==|!=|[-+*/(),[\]<>]/g) ?? [];
  if (tokens.join('') !== text.replace(/\s+/g, '')) throw new Error(`cannot tokenize ${text}`);
  let at = 0;
  const peek = () => tokens[at];
  const take = (expected?: string) => {
    const t = tokens[at++];
    if (t === undefined || (expected !== undefined && t !== expected)) throw new Error(`expected ${expected ?? 'a token'} at ${at} in ${text}`);
    return t;
  };
  const binary = (next: () => Node, ops: string[]) => (): Node => {
    let left = next();
    while (ops.includes(peek() ?? '')) left = { kind: 'op', op: take(), left, right: next() };
    return left;
  };
  const primary = (): Node => {
    const t = take();
    if (t === '(') { const inner = comparison(); take(')'); return inner; }
    if (t === '[') {
      const items = [comparison()];
      while (peek() === ',') { take(','); items.push(comparison()); }
      take(']');
      return { kind: 'array', items };
    }
    if (/^\d/.test(t)) return { kind: 'num', value: Number(t) };
    if (peek() === '(') {
      take('(');
      const args = [comparison()];
      while (peek() === ',') { take(','); args.push(comparison()); }
      take(')');
      return { kind: 'call', fn: t, args };
    }
    return { kind: 'ref', id: t };
  };
  const product = binary(primary, ['*', '/']);
  const sum = binary(product, ['+', '-']);
  const comparison = binary(sum, ['>=', '<=', '>', '<', '==', '!=']);
  const tree = comparison();
  if (at !== tokens.length) throw new Error(`unparsed rest of ${text}`);
  return tree;
}

const arith: Record<string, (a: number, b: number) => Value> = {
  '+': (a, b) => a + b, '-': (a, b) => a - b, '*': (a, b) => a * b, '/': (a, b) => (b === 0 ? undefined : a / b),
  '>=': (a, b) => Number(a >= b), '<=': (a, b) => Number(a <= b), '>': (a, b) => Number(a > b), '<': (a, b) => Number(a < b),
  '==': (a, b) => Number(a === b), '!=': (a, b) => Number(a !== b),
};

interface MetricQuery {
  id: string;
  expression?: string;
  returnData?: boolean;
  metric?: { namespace: string; metricName: string; stat: string; period: number; dimensions: Record<string, string> };
}
interface Alarm {
  metricQueries?: MetricQuery[];
  comparisonOperator: string;
  threshold: number;
  evaluationPeriods: number;
  datapointsToAlarm?: number;
  treatMissingData: string;
}
/** Datapoints per period, oldest first, for one metric; undefined = nothing published that period. */
type Samples = (metric: NonNullable<MetricQuery['metric']>) => Value[] | undefined;

/** The alarm's returned series over its evaluation periods (undefined = no datapoint). */
function series(alarm: Alarm, samples: Samples): Value[] {
  const queries = new Map((alarm.metricQueries ?? []).map((q) => [q.id, q]));
  const periods = alarm.evaluationPeriods;
  const raw = new Map<string, Value[]>();
  for (const q of queries.values()) if (q.metric) raw.set(q.id, samples(q.metric) ?? []);
  // CloudWatch returns a timestamp for a period when any queried metric has data in the window;
  // FILL gives values only to those. A window with no data at all yields no datapoint.
  const anyData = [...raw.values()].some((values) => values.some((v) => v !== undefined));
  const evaluate = (node: Node, t: number): Value | Value[] => {
    switch (node.kind) {
      case 'num': return node.value;
      case 'array': return node.items.map((item) => evaluate(item, t) as Value);
      case 'ref': {
        const q = queries.get(node.id);
        if (!q) throw new Error(`unknown query id ${node.id}`);
        return q.metric ? raw.get(q.id)?.[t] : (evaluate(parse(q.expression as string), t) as Value);
      }
      case 'op': {
        const [a, b] = [evaluate(node.left, t), evaluate(node.right, t)] as Value[];
        return a === undefined || b === undefined ? undefined : arith[node.op]?.(a, b);
      }
      case 'call': {
        const args = node.args.map((a) => evaluate(a, t));
        const present = (Array.isArray(args[0]) ? args[0] : []).filter((v): v is number => v !== undefined);
        switch (node.fn) {
          case 'FILL': return (args[0] as Value) ?? (args[1] as number);
          case 'IF': return args[0] === undefined ? undefined : (args[0] as number) !== 0 ? (args[1] as Value) : (args[2] as Value);
          case 'MAX': return present.length ? Math.max(...present) : undefined;
          case 'SUM': return present.length ? present.reduce((x, y) => x + y, 0) : undefined;
          default: throw new Error(`metric math function ${node.fn} is not in the evaluator`);
        }
      }
    }
  };
  const returned = [...queries.values()].filter((q) => q.returnData);
  if (returned.length !== 1 || !returned[0]?.expression) throw new Error('expected exactly one returned expression');
  const tree = parse(returned[0].expression);
  return Array.from({ length: periods }, (_, t) => (anyData ? (evaluate(tree, t) as Value) : undefined));
}

/** ALARM when at least datapointsToAlarm of the evaluation periods breach (missing data per treatMissingData). */
function state(alarm: Alarm, samples: Samples): 'ALARM' | 'OK' | 'INSUFFICIENT_DATA' {
  const values = series(alarm, samples);
  const compare: Record<string, (v: number) => boolean> = {
    GreaterThanThreshold: (v) => v > alarm.threshold, GreaterThanOrEqualToThreshold: (v) => v >= alarm.threshold,
    LessThanThreshold: (v) => v < alarm.threshold, LessThanOrEqualToThreshold: (v) => v <= alarm.threshold,
  };
  const breaches = compare[alarm.comparisonOperator] as (v: number) => boolean;
  const judged = values.flatMap((v) => {
    if (v !== undefined) return [breaches(v)];
    if (alarm.treatMissingData === 'breaching') return [true];
    if (alarm.treatMissingData === 'notBreaching') return [false];
    return [];
  });
  if (judged.length === 0) return 'INSUFFICIENT_DATA';
  return judged.filter(Boolean).length >= (alarm.datapointsToAlarm ?? alarm.evaluationPeriods) ? 'ALARM' : 'OK';
}

// ---- the program's alarms ------------------------------------------------------------------------

const n = CLOUDWATCH_METRICS.names;
/** The same value in every period; `none` = never published. */
const every = (periods: number, value: Value): Value[] => Array.from({ length: periods }, () => value);
const none = undefined;

describe.each<StackName>(['staging', 'production'])('the %s alarms', (stack) => {
  let run: ProgramRun;
  const alarm = (slug: string): Alarm => {
    const found = run.resources.find((r) => r.type === 'aws:cloudwatch/metricAlarm:MetricAlarm' && r.props.name === `upiik-payments-${stack}-${slug}`);
    if (!found) throw new Error(`no alarm ${slug}`);
    return found.props as unknown as Alarm;
  };
  const byName = (values: Record<string, Value[] | undefined>): Samples => (m) => values[m.metricName];
  beforeAll(async () => {
    run = await runProgram(stack);
  });

  test('creates the catalog\'s alarms for this stack, and exposes the rollback alarms by resource', () => {
    const names = run.resources.filter((r) => r.type === 'aws:cloudwatch/metricAlarm:MetricAlarm').map((r) => r.props.name).sort();
    expect(names).toEqual(alarmsFor(stack).map((k) => `upiik-payments-${stack}-${ALARMS[k].slug}`).sort());
    expect(run.outputs.alarmNames).toEqual(expect.arrayContaining(DEPLOYMENT_ROLLBACK_ALARMS.map((k) => `upiik-payments-${stack}-${ALARMS[k].slug}`)));
  });

  describe.each([
    { slug: 'payment-failure-rate', failed: n.paymentFailed, ok: n.paymentSucceeded, threshold: 20 },
    { slug: 'webhook-failure-rate', failed: n.webhookFailed, ok: n.webhookProcessed, threshold: 5 },
  ])('$slug', ({ slug, failed, ok }) => {
    const periods = () => alarm(slug).evaluationPeriods;

    test('is OK with no data at all (no events, no EMF lines)', () => {
      expect(state(alarm(slug), byName({}))).toBe('OK');
    });

    test('does not breach on 3 failures out of 4 attempts (below the minimum volume)', () => {
      expect(state(alarm(slug), byName({ [failed]: every(periods(), 3), [ok]: every(periods(), 1) }))).toBe('OK');
    });

    test('breaches at 30% failures over the minimum volume', () => {
      expect(state(alarm(slug), byName({ [failed]: every(periods(), 3), [ok]: every(periods(), 7) }))).toBe('ALARM');
    });

    test('breaches when everything fails and the success counter is never emitted', () => {
      expect(state(alarm(slug), byName({ [failed]: every(periods(), 6), [ok]: none }))).toBe('ALARM');
    });

    test('stays OK when only successes are emitted', () => {
      expect(state(alarm(slug), byName({ [failed]: none, [ok]: every(periods(), 40) }))).toBe('OK');
    });

    test('reads the service\'s own metric names in its namespace and environment', () => {
      const metrics = (alarm(slug).metricQueries ?? []).flatMap((q) => (q.metric ? [q.metric] : []));
      expect(metrics.map((m) => m.metricName).sort()).toEqual([failed, ok].sort());
      for (const m of metrics) expect(m).toMatchObject({ namespace: CLOUDWATCH_METRICS.namespace, dimensions: { [CLOUDWATCH_METRICS.dimension]: stack } });
    });
  });

  describe('unhealthy-hosts', () => {
    const targetGroups = () => run.resources.filter((r) => r.type === 'aws:lb/targetGroup:TargetGroup').map((tg) => tg.props.arnSuffix as string);

    test('watches both target groups the canary moves tasks between', () => {
      const watched = (alarm('unhealthy-hosts').metricQueries ?? []).flatMap((q) => (q.metric ? [q.metric.dimensions.TargetGroup] : []));
      expect(watched.sort()).toEqual(targetGroups().sort());
      expect(targetGroups()).toHaveLength(2);
    });

    test('breaches on an unhealthy target in the alternate group while the primary publishes nothing', () => {
      const suffixOf = (role: string) => run.resources.find((r) => r.type === 'aws:lb/targetGroup:TargetGroup' && r.name.endsWith(`-${role}-tg`))?.props.arnSuffix;
      const [primary, alternate] = [suffixOf('primary'), suffixOf('alternate')];
      expect(primary).not.toBe(alternate);
      const a = alarm('unhealthy-hosts');
      const samples: Samples = (m) => (m.dimensions.TargetGroup === alternate ? every(a.evaluationPeriods, 1) : m.dimensions.TargetGroup === primary ? none : undefined);
      expect(state(a, samples)).toBe('ALARM');
      expect(state(a, (m) => every(a.evaluationPeriods, m.dimensions.TargetGroup === primary ? 0 : undefined))).toBe('OK');
    });
  });

  describe('Redis', () => {
    const members = () => {
      const group = run.resources.find((r) => r.type === 'aws:elasticache/replicationGroup:ReplicationGroup') as RecordedResource;
      const count = group.props.numCacheClusters as number;
      return Array.from({ length: count }, (_, i) => `${group.props.replicationGroupId as string}-00${i + 1}`);
    };

    test.each(['redis-cpu', 'redis-memory', 'redis-evictions'])('%s reads every member cluster by CacheClusterId, never the replication group', (slug) => {
      const dims = (alarm(slug).metricQueries ?? []).flatMap((q) => (q.metric ? [q.metric.dimensions] : []));
      expect(dims).toEqual(members().map((id) => ({ CacheClusterId: id })));
      expect(members()).toHaveLength(stack === 'production' ? 2 : 1);
    });

    test('redis-cpu breaches when one node is hot, whatever the others show', () => {
      const a = alarm('redis-cpu');
      const hot = members()[members().length - 1];
      expect(state(a, (m) => every(a.evaluationPeriods, m.dimensions.CacheClusterId === hot ? 90 : 10))).toBe('ALARM');
      expect(state(a, (m) => every(a.evaluationPeriods, m.dimensions.CacheClusterId === hot ? 70 : 10))).toBe('OK');
    });

    test('redis-evictions breaches on evictions on any node, a silent node counting as none', () => {
      const a = alarm('redis-evictions');
      const last = members()[members().length - 1];
      expect(state(a, (m) => (m.dimensions.CacheClusterId === last ? [3] : [undefined]))).toBe('ALARM');
      expect(state(a, () => [0])).toBe('OK');
    });
  });

  test('no-webhook-activity exists only in production, and there breaches on a silent day, not on a quiet one', () => {
    const present = run.resources.some((r) => r.props.name === `upiik-payments-${stack}-no-webhook-activity`);
    expect(present).toBe(stack === 'production');
    if (stack !== 'production') return;
    const a = alarm('no-webhook-activity');
    expect(a.evaluationPeriods * ((a.metricQueries ?? [])[0]?.metric?.period ?? 0)).toBe(24 * 3600);
    expect(state(a, byName({}))).toBe('ALARM');
    const oneEarlyWebhook = every(a.evaluationPeriods, undefined).map((v, i) => (i === 2 ? 1 : v));
    expect(state(a, byName({ [n.webhookProcessed]: oneEarlyWebhook }))).toBe('OK');
  });
});

describe('the evaluator itself', () => {
  const rate: Alarm = {
    metricQueries: [
      { id: 'failed', metric: { namespace: 'N', metricName: 'F', stat: 'Sum', period: 300, dimensions: {} } },
      { id: 'ok', metric: { namespace: 'N', metricName: 'S', stat: 'Sum', period: 300, dimensions: {} } },
      // The expression before issue 10: no FILL.
      { id: 'rate', expression: 'IF((failed + ok) >= 5, 100 * failed / (failed + ok), 0)', returnData: true },
    ],
    comparisonOperator: 'GreaterThanThreshold', threshold: 20, evaluationPeriods: 2, datapointsToAlarm: 2, treatMissingData: 'notBreaching',
  };

  test('reproduces the defect: without FILL, all-failures with no success counter yields no rate', () => {
    expect(series(rate, (m) => (m.metricName === 'F' ? [6, 6] : undefined))).toEqual([undefined, undefined]);
    expect(state(rate, (m) => (m.metricName === 'F' ? [6, 6] : undefined))).toBe('OK');
    expect(state(rate, (m) => (m.metricName === 'F' ? [3, 3] : [7, 7]))).toBe('ALARM');
  });

  test('refuses metric math it does not know rather than guessing', () => {
    const unknown: Alarm = { ...rate, metricQueries: [rate.metricQueries![0]!, { id: 'x', expression: 'RATE(failed)', returnData: true }] };
    expect(() => state(unknown, () => [1, 1])).toThrow(/RATE is not in the evaluator/);
  });
});
